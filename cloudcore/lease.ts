import { CoordinationV1Api, type KubeConfig, type V1Lease, V1MicroTime } from '@kubernetes/client-node';

/** A coordination.k8s.io/v1 Lease as cloudcore reads it: who holds it, for how long, since when. */
export interface LeaseRecord {
  name: string;
  /** `spec.holderIdentity`; undefined when nobody holds it (never set, or released). */
  holder?: string;
  durationSeconds: number;
  acquireTime?: Date;
  renewTime?: Date;
  transitions: number;
  labels: Record<string, string>;
  /** What the next write must be based on (optimistic concurrency). */
  resourceVersion: string;
}

/** What a write sets; the rest of the Lease is kept. */
export interface LeaseSpec {
  holder?: string;
  durationSeconds: number;
  acquireTime: Date;
  renewTime: Date;
  transitions: number;
}

/** A write that lost a race: someone else changed (or deleted, or created) the Lease since it was read. */
export const CONFLICT = 'conflict' as const;

/**
 * Leases in one namespace, read and written with optimistic concurrency: every replace carries the
 * resourceVersion it was based on, and a write that lost a race says so (CONFLICT) instead of throwing. Other
 * API errors are thrown as the client threw them (`code` is the HTTP status).
 */
export class Leases {
  private readonly api: CoordinationV1Api;

  constructor(
    kubeConfig: KubeConfig,
    readonly namespace: string,
  ) {
    this.api = kubeConfig.makeApiClient(CoordinationV1Api);
  }

  /** The Lease, or undefined when there is none. */
  async get(name: string): Promise<LeaseRecord | undefined> {
    try {
      return recordOf(await this.api.readNamespacedLease({ name, namespace: this.namespace }));
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Creates the Lease; CONFLICT when it exists already. */
  async create(
    name: string,
    spec: LeaseSpec,
    labels: Record<string, string> = {},
  ): Promise<LeaseRecord | typeof CONFLICT> {
    const body: V1Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: this.namespace, labels },
      spec: specOf(spec),
    };
    // 404 here is a namespace that does not exist: an error, not a race.
    return this.racing(
      async () => recordOf(await this.api.createNamespacedLease({ namespace: this.namespace, body })),
      [409],
    );
  }

  /** Replaces the spec of the Lease as `based` read it; CONFLICT when it changed or went since. */
  async replace(based: LeaseRecord, spec: LeaseSpec): Promise<LeaseRecord | typeof CONFLICT> {
    const body: V1Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: based.name,
        namespace: this.namespace,
        labels: based.labels,
        resourceVersion: based.resourceVersion,
      },
      spec: specOf(spec),
    };
    return this.racing(async () =>
      recordOf(await this.api.replaceNamespacedLease({ name: based.name, namespace: this.namespace, body })),
    );
  }

  /** Deletes the Lease if it is still as `based` read it; false when it changed or went meanwhile. */
  async delete(based: Pick<LeaseRecord, 'name' | 'resourceVersion'>): Promise<boolean> {
    const done = await this.racing(async () => {
      await this.api.deleteNamespacedLease({
        name: based.name,
        namespace: this.namespace,
        body: { preconditions: { resourceVersion: based.resourceVersion } },
      });
      return true;
    });
    return done === true;
  }

  /** Every Lease with these labels. */
  async list(labelSelector: string): Promise<LeaseRecord[]> {
    const list = await this.api.listNamespacedLease({ namespace: this.namespace, labelSelector });
    return list.items.map(recordOf);
  }

  /** `write`'s result, or CONFLICT when it failed with one of `lost` (409: changed meanwhile; 404: gone). */
  private async racing<T>(write: () => Promise<T>, lost = [409, 404]): Promise<T | typeof CONFLICT> {
    try {
      return await write();
    } catch (error) {
      if (lost.includes(statusOf(error) ?? 0)) return CONFLICT;
      throw error;
    }
  }
}

/** The HTTP status of a failed API call, if it has one. */
export function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' && code >= 100 && code < 600 ? code : undefined;
}

/** One line about a failed API call: its status and the API server's message when there is one. */
export function describeError(error: unknown): string {
  const body = (error as { body?: unknown } | null)?.body;
  if (typeof body === 'string')
    try {
      const status = JSON.parse(body) as { message?: string };
      if (status.message) return `${statusOf(error)}: ${status.message}`;
    } catch {}
  return error instanceof Error ? error.message : String(error);
}

function specOf(spec: LeaseSpec): V1Lease['spec'] {
  return {
    // A released Lease has no holder: the API server drops an empty holderIdentity as it would an absent one.
    ...(spec.holder ? { holderIdentity: spec.holder } : {}),
    leaseDurationSeconds: spec.durationSeconds,
    // MicroTime: the API server wants six fractional digits, which V1MicroTime writes and a Date does not.
    acquireTime: new V1MicroTime(spec.acquireTime.getTime()),
    renewTime: new V1MicroTime(spec.renewTime.getTime()),
    leaseTransitions: spec.transitions,
  };
}

function recordOf(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  return {
    name: lease.metadata?.name ?? '',
    ...(spec.holderIdentity ? { holder: spec.holderIdentity } : {}),
    durationSeconds: spec.leaseDurationSeconds ?? 0,
    ...(spec.acquireTime ? { acquireTime: dateOf(spec.acquireTime) } : {}),
    ...(spec.renewTime ? { renewTime: dateOf(spec.renewTime) } : {}),
    transitions: spec.leaseTransitions ?? 0,
    labels: { ...(lease.metadata?.labels ?? {}) },
    resourceVersion: lease.metadata?.resourceVersion ?? '',
  };
}

/** The client hands MicroTime fields back as the API server's strings, whatever its types say. */
function dateOf(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}
