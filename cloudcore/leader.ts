import type { KubeConfig } from '@kubernetes/client-node';
import { EdgetwinError } from '../device-models/errors.js';
import type { Logger } from '../sdk/logger.js';
import { CONFLICT, describeError, type LeaseRecord, Leases } from './lease.js';

/** The Lease that says which cloudcore replica does the work that must happen once (garbage collection). */
export const LEADER_LEASE = 'edgetwin-cloudcore-leader';

export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  /** Where the Lease lives. */
  namespace: string;
  /** The Lease's name (default LEADER_LEASE). */
  name?: string;
  /** This replica, as `holderIdentity` names it: unique among the replicas. */
  identity: string;
  /** A holder's claim lasts this long without a renewal; then another replica may take over (default 15). */
  leaseDurationSeconds?: number;
  /** The leader stops leading when it could not renew for this long, ms (default 10 000; under the duration). */
  renewDeadlineMs?: number;
  /** How often the leader renews and the others try, ms (default 2 000). */
  retryPeriodMs?: number;
  log: Logger;
  /** This replica leads from now on (runs once per term). */
  onStartedLeading?(): void;
  /** This replica leads no more: stopped, lost the Lease, or could not renew it in time. */
  onStoppedLeading?(): void;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it: one holder at a
 * time, every write based on the resourceVersion it read (a lost race is a failed attempt, never two leaders),
 * and expiry judged by this replica's own clock: a Lease held by another is taken over only once it has not
 * changed for `leaseDurationSeconds` since this replica first saw it as it is, so replicas need not agree on
 * the time. The leader renews every `retryPeriodMs` and gives up leading when it has not renewed for
 * `renewDeadlineMs` (shorter than the lease, so it stops before anyone else may start). `stop()` releases the
 * Lease (no holder), so that another replica takes over at its next try instead of after the lease expires; a
 * replica that is killed leaves its Lease to expire.
 */
export class LeaderElection {
  private readonly leases: Leases;
  private readonly name: string;
  private readonly durationSeconds: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private timer?: NodeJS.Timeout;
  private running = false;
  private leading = false;
  private tick?: Promise<void>;
  /** The Lease as last read or written, and when (this replica's clock) it was first seen as such. */
  private observed?: LeaseRecord;
  private observedAt = 0;
  private renewedAt = 0;

  constructor(private readonly options: LeaderElectionOptions) {
    this.name = options.name ?? LEADER_LEASE;
    this.durationSeconds = options.leaseDurationSeconds ?? 15;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    const invalid = (message: string) => new EdgetwinError('LEASE_TIMINGS_INVALID', message);
    if (!Number.isInteger(this.durationSeconds) || this.durationSeconds < 1)
      throw invalid(`leaseDurationSeconds ${this.durationSeconds}: must be a whole number ≥ 1`);
    if (!(this.renewDeadlineMs < this.durationSeconds * 1000))
      throw invalid(
        `renewDeadlineMs ${this.renewDeadlineMs}: must be under the lease duration (${this.durationSeconds} s)`,
      );
    if (!(this.retryPeriodMs > 0 && this.retryPeriodMs < this.renewDeadlineMs))
      throw invalid(`retryPeriodMs ${this.retryPeriodMs}: must be > 0 and under renewDeadlineMs`);
    this.leases = new Leases(options.kubeConfig, options.namespace);
  }

  /** Whether this replica leads now. */
  get isLeader(): boolean {
    return this.leading;
  }

  /** The holder as this replica last saw it (undefined: nobody, or not read yet). */
  get holder(): string | undefined {
    return this.observed?.holder;
  }

  /** Starts trying (at once, then every retry period). Safe twice. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops trying; a leader releases the Lease first. Safe twice; leaves no timer or request behind. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.timer);
    await this.tick;
    if (!this.leading) return;
    try {
      await this.release();
    } catch (error) {
      this.options.log.warn({ lease: this.name, err: describeError(error) }, 'leader lease not released');
    }
    this.setLeading(false);
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.tick = this.attempt().finally(() => {
        this.tick = undefined;
        if (this.running) this.schedule(this.retryPeriodMs);
      });
    }, delayMs);
  }

  private async attempt(): Promise<void> {
    let held = false;
    try {
      held = await this.acquireOrRenew();
    } catch (error) {
      this.options.log.warn({ lease: this.name, err: describeError(error) }, 'leader lease not renewed');
    }
    if (!this.running) return;
    if (held) {
      this.renewedAt = Date.now();
      this.setLeading(true);
    } else if (this.leading) {
      const taken = this.observed?.holder !== undefined && this.observed.holder !== this.options.identity;
      if (taken || Date.now() - this.renewedAt > this.renewDeadlineMs) this.setLeading(false);
    }
  }

  /** One try: true when this replica holds the Lease now. */
  private async acquireOrRenew(): Promise<boolean> {
    const { identity } = this.options;
    const now = new Date();
    const lease = await this.leases.get(this.name);
    if (!lease) {
      const created = await this.leases.create(
        this.name,
        {
          holder: identity,
          durationSeconds: this.durationSeconds,
          acquireTime: now,
          renewTime: now,
          transitions: 0,
        },
        { 'app.kubernetes.io/name': 'edgetwin', 'edgetwin.io/lease': 'leader' },
      );
      if (created === CONFLICT) return false;
      this.observe(created);
      return true;
    }
    this.observe(lease);
    const mine = lease.holder === identity;
    const expiresAt = this.observedAt + lease.durationSeconds * 1000;
    if (!mine && lease.holder !== undefined && expiresAt > Date.now()) return false;
    const written = await this.leases.replace(lease, {
      holder: identity,
      durationSeconds: this.durationSeconds,
      acquireTime: mine && lease.acquireTime ? lease.acquireTime : now,
      renewTime: now,
      transitions: mine ? lease.transitions : lease.transitions + 1,
    });
    if (written === CONFLICT) return false;
    this.observe(written);
    return true;
  }

  /** Leaves the Lease without a holder (and a 1 s duration, as client-go does), if this replica still holds it. */
  private async release(): Promise<void> {
    const lease = await this.leases.get(this.name);
    if (lease?.holder !== this.options.identity) return;
    const now = new Date();
    await this.leases.replace(lease, {
      durationSeconds: 1,
      acquireTime: now,
      renewTime: now,
      transitions: lease.transitions,
    });
    this.options.log.info({ lease: this.name }, 'leader lease released');
  }

  private observe(lease: LeaseRecord): void {
    if (lease.resourceVersion !== this.observed?.resourceVersion) this.observedAt = Date.now();
    this.observed = lease;
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    const { log, identity } = this.options;
    log.info(
      { lease: this.name, identity },
      leading ? 'leading: this replica does the once-only work' : 'not leading any more',
    );
    try {
      if (leading) this.options.onStartedLeading?.();
      else this.options.onStoppedLeading?.();
    } catch (error) {
      log.error({ lease: this.name, err: String(error) }, 'leadership change not handled');
    }
  }
}
