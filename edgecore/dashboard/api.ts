/**
 * The dashboard's view of the HTTP API (`/api/v1`), same origin. The shapes are what edgecore's and cloudcore's
 * HTTP API return; the dashboard reads them and never changes them.
 */

/**
 * A device as the device list shows it. `node` (and whether cloudcore has that node connected) is present only
 * when cloudcore serves the view.
 */
export interface DeviceSummary {
  id: string;
  namespace: string;
  name: string;
  model: string;
  protocol: string;
  state: string;
  lastOnlineTime: string;
  node?: string;
  nodeConnected?: boolean;
}

/** One side of a twin: the value as text (the model's type says how to read it), when and at which version. */
export interface TwinValue {
  value: string;
  timestamp?: number;
  version?: string;
  /** Why the device holds a value other than the desired one (reported side only). */
  reason?: string;
}

export interface TwinView {
  type?: string;
  modelType?: string;
  optional: boolean;
  desired: TwinValue | null;
  reported: TwinValue | null;
}

/** What the device model says about a property (shown when the API sends it). */
export interface PropertyInfo {
  type?: string;
  accessMode?: 'ReadWrite' | 'ReadOnly' | string;
  minimum?: string;
  maximum?: string;
  unit?: string;
  description?: string;
}

export interface DeviceView extends DeviceSummary {
  twins: Record<string, TwinView>;
  /** Desired values the device does not hold yet, by property: a property is in sync when it is absent. */
  delta: Record<string, string>;
  properties?: Record<string, PropertyInfo>;
}

/** A point of a property's history: `t` in ms since the epoch, `v` the value as the device reported it. */
export interface HistoryPoint {
  t: number;
  v: string | number | boolean;
}

/** A refusal from the API (`{code, reason}`), or a failed request. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    reason: string,
  ) {
    super(reason);
  }
}

const BASE = '/api/v1/devices';

/** `default/thermostat-01` → `/api/v1/devices/default/thermostat-01` (each part URL-encoded). */
export function devicePath(id: string): string {
  const [namespace = '', ...rest] = id.split('/');
  return `${BASE}/${encodeURIComponent(namespace)}/${encodeURIComponent(rest.join('/'))}`;
}

async function request<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, { ...init, headers: { accept: 'application/json', ...init?.headers } });
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const reason = (body as { reason?: unknown } | undefined)?.reason;
    throw new ApiError(response.status, typeof reason === 'string' ? reason : `HTTP ${response.status}`);
  }
  return body as T;
}

export const listDevices = () => request<DeviceSummary[]>(BASE);

export const getDevice = (id: string) => request<DeviceView>(devicePath(id));

/** The list entry of a device view (what GET /devices and the `hello` event share). */
export function summaryOf({
  twins: _twins,
  delta: _delta,
  properties: _properties,
  ...summary
}: DeviceView): DeviceSummary {
  return summary;
}

/** Sets a desired value; rejects with an {@link ApiError} carrying the API's reason (400 bad value, 409 conflict). */
export const setDesired = (id: string, property: string, value: string) =>
  request<TwinView>(`${devicePath(id)}/twins/${encodeURIComponent(property)}/desired`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ value }),
  });

/** The property's recorded history, oldest first; empty when the API keeps none (404, 501). */
export async function getHistory(id: string, property: string, limit = 300): Promise<HistoryPoint[]> {
  try {
    const url = `${devicePath(id)}/twins/${encodeURIComponent(property)}/history?limit=${limit}`;
    return (await request<{ points?: HistoryPoint[] }>(url)).points ?? [];
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 501)) return [];
    throw error;
  }
}
