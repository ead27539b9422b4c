import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { API_GROUP, API_VERSION } from '../device-models/index.js';
import type { CloudMetrics } from './metrics.js';
import type { StatusMode } from './status-mode.js';

/**
 * The status requests cloudcore makes, each timed and counted in CloudMetrics: read, create (DeviceStatus),
 * server-side apply of `status` with a field manager, JSON merge patch and JSON patch. Every write answers with
 * the object as the API server now holds it.
 */

const VERSION = 'v1beta1';
const headers = {
  apply: setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
  merge: setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  json: setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
};

/** The field managers of cloudcore's server-side applies, one per concern. */
export const FIELD_MANAGERS = {
  /** `status.twins`. */
  twins: 'edgetwin-cloudcore-twins',
  /** `status.state`, `lastOnlineTime`, `lastSeen`, `observedGeneration`, `conditions` (also in Device.status). */
  state: 'edgetwin-cloudcore-state',
} as const;

/** What a write concerns, for the metrics: one apply per concern, `device` for the copy in Device.status. */
export type Concern = 'twins' | 'state' | 'device' | 'all';

/** A DeviceStatus or Device as read or written back. */
export interface StatusObject {
  metadata?: { resourceVersion?: string; uid?: string; generation?: number };
  status?: Record<string, unknown>;
}

/** A JSON patch operation (RFC 6902) of the ones used here. */
export type JsonPatchOp = { op: 'test'; path: string; value: unknown } | { op: 'remove'; path: string };

/** Where one object lives, and how its status is written. */
export interface StatusTarget {
  kind: StatusMode['kind'];
  plural: StatusMode['plural'];
  /** Through the /status subresource (else the object itself). */
  subresource: boolean;
  namespace: string;
  name: string;
}

export class StatusApi {
  private readonly api: CustomObjectsApi;

  constructor(
    kubeConfig: KubeConfig,
    private readonly metrics?: CloudMetrics,
  ) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  /** The object, or undefined when it does not exist. */
  async get(target: StatusTarget): Promise<StatusObject | undefined> {
    const { namespace, name, plural } = target;
    return this.api
      .getNamespacedCustomObject({ group: API_GROUP, version: VERSION, namespace, plural, name })
      .catch((error) => {
        if (apiErrorCode(error) === 404) return undefined;
        throw error;
      });
  }

  /** Creates the DeviceStatus of a Device (same name, owned by it); undefined when it exists already. */
  async createDeviceStatus(
    namespace: string,
    name: string,
    owner: string,
  ): Promise<StatusObject | undefined> {
    const body = {
      apiVersion: API_VERSION,
      kind: 'DeviceStatus',
      metadata: {
        name,
        namespace,
        ownerReferences: [
          {
            apiVersion: API_VERSION,
            kind: 'Device',
            name,
            uid: owner,
            controller: true,
            blockOwnerDeletion: false,
          },
        ],
      },
    };
    return this.api
      .createNamespacedCustomObject({
        group: API_GROUP,
        version: VERSION,
        namespace,
        plural: 'devicestatuses',
        body,
      })
      .catch((error) => {
        if (apiErrorCode(error) === 409) return undefined; // created meanwhile
        throw error;
      });
  }

  /**
   * Server-side apply of `status` (through /status) as `manager`, forcing: cloudcore's managers own their
   * fields. With `resourceVersion`, the API server refuses it (409) when the object has changed since.
   */
  apply(
    target: StatusTarget,
    concern: Concern,
    manager: string,
    status: Record<string, unknown>,
    resourceVersion?: string,
  ): Promise<StatusObject> {
    const body = {
      apiVersion: API_VERSION,
      kind: target.kind,
      metadata: {
        name: target.name,
        namespace: target.namespace,
        ...(resourceVersion ? { resourceVersion } : {}),
      },
      status,
    };
    return this.patch(target, concern, body, headers.apply, { fieldManager: manager, force: true });
  }

  /** A JSON merge patch of `status` (and `metadata.resourceVersion` as a precondition when given). */
  merge(
    target: StatusTarget,
    concern: Concern,
    status: Record<string, unknown>,
    resourceVersion?: string,
  ): Promise<StatusObject> {
    const body = { ...(resourceVersion ? { metadata: { resourceVersion } } : {}), status };
    return this.patch(target, concern, body, headers.merge);
  }

  /**
   * A JSON patch: its `test` operations make it fail unless the object is as they say. The API server answers
   * a failed test with 422, as it answers an invalid object; both are reported as a 409 (read again, retry).
   */
  jsonPatch(target: StatusTarget, concern: Concern, ops: JsonPatchOp[]): Promise<StatusObject> {
    return this.patch(target, concern, ops, headers.json).catch((error) => {
      if (apiErrorCode(error) !== 422) throw error;
      throw Object.assign(
        new Error(`${target.plural}/${target.name} changed meanwhile (${describeApiError(error)})`),
        {
          code: 409,
          cause: error,
        },
      );
    });
  }

  private async patch(
    target: StatusTarget,
    concern: Concern,
    body: unknown,
    options: ReturnType<typeof setHeaderOptions>,
    query: { fieldManager?: string; force?: boolean } = {},
  ): Promise<StatusObject> {
    const { namespace, name, plural, kind } = target;
    const request = { group: API_GROUP, version: VERSION, namespace, plural, name, body, ...query };
    const started = performance.now();
    try {
      const object: StatusObject = target.subresource
        ? await this.api.patchNamespacedCustomObjectStatus(request, options)
        : await this.api.patchNamespacedCustomObject(request, options);
      this.metrics?.statusPatches.inc({ kind, concern, result: 'ok' });
      return object;
    } catch (error) {
      const result = apiErrorCode(error) === 409 ? 'conflict' : 'error';
      this.metrics?.statusPatches.inc({ kind, concern, result });
      throw error;
    } finally {
      this.metrics?.statusWriteSeconds.observe({ kind, concern }, (performance.now() - started) / 1000);
    }
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** The HTTP status of a failed API call (ApiException's `code`); undefined for a connection error. */
export function apiErrorCode(error: unknown): number | undefined {
  const code = isObject(error) ? error.code : undefined;
  return typeof code === 'number' && code >= 100 && code < 600 ? code : undefined;
}

/** One line about a failed API call: the status and the API server's message when there is one. */
export function describeApiError(error: unknown): string {
  const body = isObject(error) ? error.body : undefined;
  if (typeof body === 'string') {
    try {
      const status = JSON.parse(body) as { message?: string };
      if (status.message) return `${apiErrorCode(error)}: ${status.message}`;
    } catch {}
  }
  return error instanceof Error ? error.message : String(error);
}
