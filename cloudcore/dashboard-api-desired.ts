import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import {
  API_GROUP,
  checkTwinValue,
  type Device,
  type DeviceModel,
  formatProblem,
  fromValue,
  validateObjects,
} from '../device-models/internal.js';
import { backoffDelay } from '../sdk/runtime/backoff.js';
import { toNodeObject } from './node-object.js';
import { apiErrorCode, describeApiError } from './status-writer.js';

/** A refusal the dashboard API answers with `{code, reason}`. */
export class DashboardHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'DashboardHttpError';
  }
}

const VERSION = 'v1beta1';
const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
/**
 * A write that lost a race with another writer of the Device is read and tried again, after 10, 20, 40… ms
 * (jittered, so that racing writers part), this many times in all (as client-go's RetryOnConflict).
 */
const ATTEMPTS = 6;

/**
 * `If-Match: "3"` (the twin's `desired.version`: the Device's `metadata.generation`, which only a change of its
 * spec moves, not a status write): the write applies only if the spec is still at that generation, else 409.
 * Undefined without the header.
 */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const version = header
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
  if (!/^\d{1,15}$/.test(version))
    throw new DashboardHttpError(
      400,
      `If-Match must be a version such as "3", the twin's desired.version (got ${header})`,
    );
  return Number(version);
}

/**
 * Sets a desired value in Kubernetes: a JSON patch of the Device's `spec.properties[i].desired.value`, as
 * `kubectl patch --type json` would, after the same checks the edge makes (the device resolved by
 * `validateObjects` as the edge resolves what cloudcore sends it, then the property writable, of its type and
 * within minimum/maximum). The patch carries the resourceVersion the Device was read at, so it never lands on a
 * Device someone changed meanwhile (the API server answers 409, and the Device is read again and the write
 * retried); with If-Match it also tests the generation (a spec changed since is the caller's 409). The model
 * comes from `models` (the informer's cache), the Device is read afresh: cloudcore needs `get` and `patch` on
 * devices. Resolves to the Device as patched.
 */
export async function writeDesired(
  kubeConfig: KubeConfig,
  models: (namespace: string, name: string) => DeviceModel | undefined,
  key: string,
  property: string,
  value: string,
  ifMatch?: number,
): Promise<Device> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const [namespace = '', name = ''] = key.split('/');
  const ref = { group: API_GROUP, version: VERSION, namespace };
  for (let attempt = 1; ; attempt++) {
    const device = (await api
      .getNamespacedCustomObject({ ...ref, plural: 'devices', name })
      .catch((error: unknown) => refuse(error, key, 'get'))) as Device;
    const index = (device.spec?.properties ?? []).findIndex((p) => p?.name === property);
    if (index < 0) throw new DashboardHttpError(404, `device ${key} has no property "${property}"`);
    const modelName = device.spec?.deviceModelRef?.name ?? '';
    const model = models(namespace, modelName);
    if (!model)
      throw new DashboardHttpError(
        400,
        `device ${key}: its DeviceModel "${modelName}" is not known, so no value can be checked`,
      );
    checkDesired(key, device, model, property, value);
    const at = `/spec/properties/${index}`;
    const { resourceVersion, generation } = device.metadata as {
      resourceVersion?: string;
      generation?: number;
    };
    if (ifMatch !== undefined && generation !== ifMatch) throw changedSince(key, ifMatch);
    const body = [
      { op: 'test', path: `${at}/name`, value: property },
      ...(ifMatch !== undefined ? [{ op: 'test', path: '/metadata/generation', value: ifMatch }] : []),
      device.spec?.properties?.[index]?.desired
        ? { op: 'replace', path: `${at}/desired/value`, value }
        : { op: 'add', path: `${at}/desired`, value: { value } },
      // A resourceVersion in the patched object makes the API server's write conditional on it (409 if stale).
      { op: 'replace', path: '/metadata/resourceVersion', value: resourceVersion },
    ];
    try {
      return (await api.patchNamespacedCustomObject(
        { ...ref, plural: 'devices', name, body },
        jsonPatch,
      )) as Device;
    } catch (error) {
      // 409: the Device changed since it was read; 422: a `test` failed (its spec changed, so it did too).
      const code = apiErrorCode(error);
      if ((code === 409 || code === 422) && attempt < ATTEMPTS) {
        await new Promise((resolve) =>
          setTimeout(resolve, backoffDelay(attempt - 1, { initialMs: 10, maxMs: 500 })),
        );
        continue;
      }
      refuse(error, key, 'patch');
    }
  }
}

/** The edge's checks: the device resolves, and the value fits the property (writable, type, bounds). */
function checkDesired(
  key: string,
  device: Device,
  model: DeviceModel,
  property: string,
  value: string,
): void {
  const content = toNodeObject({ key, resourceVersion: '', device, model }).content;
  const result = validateObjects([
    fromValue(content.model, `cloud:${key}`),
    fromValue(content.device, `cloud:${key}`),
  ]);
  if (result.problems.length > 0)
    throw new DashboardHttpError(
      400,
      `device ${key} does not validate, so its edge does not run it: ${result.problems.map(formatProblem).join('; ')}`,
    );
  const resolved = result.devices[0]?.properties.find((p) => p.name === property)?.model;
  if (!resolved) throw new DashboardHttpError(404, `device ${key} has no property "${property}"`);
  if (resolved.accessMode === 'ReadOnly')
    throw new DashboardHttpError(400, `${property}: ReadOnly in the model, it cannot have a desired value`);
  const checked = checkTwinValue(resolved.type, value, resolved);
  if (!checked.ok) throw new DashboardHttpError(400, `${property}: ${checked.reason}`);
}

const changedSince = (key: string, version: number) =>
  new DashboardHttpError(409, `device ${key} changed since version ${version}: read it again`);

/** A failed call as the API's answer: 404 no device, 403 a permission cloudcore lacks, 409, else 502. */
function refuse(error: unknown, key: string, verb: 'get' | 'patch'): never {
  const code = apiErrorCode(error);
  if (code === 404) throw new DashboardHttpError(404, `no device ${key}`);
  if (code === 403)
    throw new DashboardHttpError(
      403,
      `cloudcore may not ${verb} Devices: its service account needs get and patch on devices.${API_GROUP} ` +
        `to set desired values (${describeApiError(error)})`,
    );
  if (code === 409 || code === 422)
    throw new DashboardHttpError(409, `device ${key} kept changing while it was written: try again`);
  throw new DashboardHttpError(
    502,
    `Kubernetes did not answer the ${verb} of ${key}: ${describeApiError(error)}`,
  );
}
