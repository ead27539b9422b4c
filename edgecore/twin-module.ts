import { Type } from '@sinclair/typebox';
import {
  checkTwinValue,
  MembershipGet,
  type MsgTwin,
  type MsgTwinMap,
  type ResolvedDevice,
  StateUpdate,
  TwinGet,
  TwinUpdate,
} from '../device-models/index.js';
import { topics } from '../sdk/index.js';
import { type DeltaIntents, deltaIntents, sameIntents } from '../twin/delta-intents.js';
import { applyUpdate, snapshot } from '../twin/rules.js';
import type { ApplyResult, DeviceTwins, UpdateSource } from '../twin/types.js';
import type { EdgeContext } from './context.js';

const ANY = topics.ANY_DEVICE;

export type UpdateOutcome = ApplyResult | { ok: false; code: 404 | 503; reason: string };

/**
 * The DeviceTwin on the EventBus: applies twin updates from mappers and apps (and desired values from the
 * HTTP API) with KubeEdge's rules, persists them (acknowledged only after commit), then publishes, in order,
 * `update/result`, `update/document` and `update/delta`, and queues the cloud sync in the outbox.
 * Also answers `twin/get`, `state/update` and `membership/get`. Bad payloads get a result with a code.
 *
 * Unlike KubeEdge, which republishes the delta after every update while one is pending, `update/delta` goes
 * out only when the delta's intents changed (deltaWorthPublishing): a mapper reporting every second must not
 * make it ask for the same write every second.
 */
export class TwinModule {
  private readonly cache = new Map<string, DeviceTwins>();
  /** Per device, how many properties its delta holds, and their sum (the gauge), kept as updates come. */
  private readonly deltas = new Map<string, number>();
  private deltaTotal = 0;
  /** Per device, the intents of the delta last published (or found empty); in memory, so a restart publishes again. */
  private readonly published = new Map<string, DeltaIntents>();
  private readonly unsubscribe: (() => Promise<void>)[] = [];
  /**
   * Per device, the writes waiting for their commit. While one waits, every update of the device waits for
   * its own commit too: its delta (published after the commit) may carry the waiting write's desired value,
   * which must not reach a device before it is stored.
   */
  private readonly committing = new Map<string, number>();

  constructor(private readonly ctx: EdgeContext) {}

  async start(): Promise<void> {
    for (const [id, twins] of this.ctx.store.allTwins()) this.cache.set(id, twins);
    const { bus } = this.ctx;
    const result = (build: (id: string) => string) => (topic: string) => {
      const parsed = topics.parseDeviceTopic(topic);
      return parsed ? build(parsed.id) : undefined;
    };
    this.unsubscribe.push(
      await bus.subscribe(
        topics.twinUpdate(ANY),
        TwinUpdate,
        (topic, payload) => this.onTwinUpdate(topic, payload.twin, payload.event_id),
        { resultTopic: result(topics.twinUpdateResult), qos: 1 },
      ),
      await bus.subscribe(
        topics.twinGet(ANY),
        TwinGet,
        (topic, payload) => this.onTwinGet(topic, payload.event_id),
        {
          resultTopic: result(topics.twinGetResult),
        },
      ),
      await bus.subscribe(
        topics.stateUpdate(ANY),
        StateUpdate,
        (topic, payload) => this.onStateUpdate(topic, payload.state, payload.event_id),
        { resultTopic: result(topics.stateUpdateResult), qos: 1 },
      ),
      await bus.subscribe(topics.membershipGet(topics.ANY_NODE), MembershipGet, (topic, payload) =>
        this.onMembershipGet(topic, payload.event_id),
      ),
      // Apps' messages for the cloud; carried once the cloud link exists (cloudcore).
      await bus.subscribe('$hw/events/upload/#', Type.Unknown(), (topic) => {
        this.ctx.log.debug({ topic }, 'upload received; no cloud link configured');
      }),
    );
  }

  async stop(): Promise<void> {
    for (const unsubscribe of this.unsubscribe.splice(0)) await unsubscribe().catch(() => {});
  }

  /** The twins of a device (a copy), or undefined for an unknown device. */
  twins(id: string): DeviceTwins | undefined {
    if (!this.ctx.devices.has(id)) return undefined;
    return structuredClone(this.cache.get(id) ?? {});
  }

  /** Registers a device: its row, and a twin per property (typed from the model, desired from the spec). */
  async addDevice(device: ResolvedDevice): Promise<void> {
    this.ctx.store.upsertDevice({ id: device.id, namespace: device.namespace, name: device.name });
    const existing = this.cache.get(device.id) ?? {};
    const initial: MsgTwinMap = {};
    for (const property of device.properties) {
      if (existing[property.name]) continue;
      initial[property.name] = {
        optional: false,
        metadata: { type: property.model.type.toLowerCase() as never },
        ...(property.desired !== undefined ? { expected: { value: property.desired } } : {}),
      };
    }
    if (Object.keys(initial).length > 0) await this.update(device.id, initial, 'edge');
  }

  removeDevice(id: string): void {
    this.cache.delete(id);
    this.deltaTotal -= this.deltas.get(id) ?? 0;
    this.deltas.delete(id);
    this.ctx.metrics.deltas.set(this.deltaTotal);
    this.published.delete(id);
    this.ctx.store.removeDevice(id);
  }

  /** Sets a desired value at the edge (HTTP, or an app); `basedOn` makes it conditional (409 when stale). */
  setDesired(id: string, property: string, value: string, basedOn?: { cloud: number; edge: number }) {
    const device = this.ctx.devices.get(id);
    if (!device) return Promise.resolve<UpdateOutcome>({ ok: false, code: 404, reason: `no device ${id}` });
    if (!device.properties.some((p) => p.name === property))
      return Promise.resolve<UpdateOutcome>({
        ok: false,
        code: 404,
        reason: `device ${id} has no property "${property}"`,
      });
    const twin: MsgTwin = { expected: { value }, ...(basedOn ? { expected_version: basedOn } : {}) };
    return this.update(id, { [property]: twin }, 'edge', undefined, 'http');
  }

  /** Applies an update, persists it, then publishes result → document → delta. */
  async update(
    id: string,
    update: MsgTwinMap,
    source: UpdateSource,
    eventId?: string,
    label: string = source,
  ): Promise<UpdateOutcome> {
    const device = this.ctx.devices.get(id);
    if (!device) return this.refuse(id, { ok: false, code: 404, reason: `no device ${id}` }, eventId);
    const modelProblem = checkAgainstModel(device, update);
    if (modelProblem) return this.refuse(id, { ok: false, code: 400, reason: modelProblem }, eventId);
    const { bus } = this.ctx;
    const result = topics.twinUpdateResult(id);
    const previous = this.cache.get(id) ?? {};
    const applied = applyUpdate(previous, update, { source, now: Date.now() });
    if (!applied.ok) return this.refuse(id, applied, eventId);
    // Applied to the cache at once, in arrival order; persisted by the next group commit.
    this.cache.set(id, applied.twins);
    const changed = Object.keys(applied.result).length > 0;
    if (changed) {
      const changedTwins = Object.fromEntries(
        Object.keys(applied.result).map((name) => [name, applied.twins[name] ?? null]),
      );
      // Beyond KubeEdge, a cloud sync the edge took goes back too: the cloud shows it as observedDesired.
      const sync = source === 'cloud' ? { ...changedTwins, ...applied.sync } : applied.sync;
      if (source === 'edge' && !this.committing.has(id) && reportsOnly(update) && !bus.heard(result)) {
        // Reported values that nobody waits on: written behind (twin.writeBehindMs), coalesced per twin.
        void this.ctx.store.writeBehind(id, changedTwins, sync).then(
          () => this.ctx.cloud?.notifyOutbox(),
          () => {}, // the store logs it
        );
      } else
        try {
          this.committing.set(id, (this.committing.get(id) ?? 0) + 1);
          await this.ctx.store.write(id, changedTwins, sync);
          if (Object.keys(sync).length > 0) this.ctx.cloud?.notifyOutbox();
        } catch (error) {
          // Not stored, so not acknowledged: undo it unless a later update has been applied on top.
          if (this.cache.get(id) === applied.twins) this.cache.set(id, previous);
          return this.refuse(
            id,
            { ok: false, code: 503, reason: `not stored: ${(error as Error).message}` },
            eventId,
          );
        } finally {
          const left = (this.committing.get(id) ?? 1) - 1;
          if (left > 0) this.committing.set(id, left);
          else this.committing.delete(id);
        }
      this.ctx.metrics.twinUpdates.inc({ source: label });
    }
    // Acknowledged only now, after commit; issued in order (result → document → delta) without a round trip each.
    const stamp = { event_id: eventId ?? crypto.randomUUID(), timestamp: Date.now() };
    const sent: Promise<void>[] = [];
    // Built and sent only when someone can hear it: an in-process mapper reporting every second has no
    // subscriber on its result, and encoding every twin of it each time cost more than storing them.
    if (bus.heard(result)) sent.push(bus.publish(result, { ...stamp, twin: applied.result }, { qos: 1 }));
    // Only when a value, type or `optional` changed: a mapper repeating what it read gets its result (with
    // the new versions), and the cloud its sync, but apps are not told of a change that did not happen.
    const document = topics.twinUpdateDocument(id);
    if (Object.keys(applied.document).length > 0 && bus.heard(document))
      sent.push(bus.publish(document, { ...stamp, twin: applied.document }, { qos: 1 }));
    // An update that changed nothing cannot change the delta's intents itself (one still waiting for its
    // commit may have, and publishes them once committed), so it publishes no delta.
    if (changed && this.deltaWorthPublishing(id, applied.twins, applied.delta)) {
      const delta = { ...stamp, twin: snapshot(applied.twins), delta: applied.delta };
      const intents = this.published.get(id);
      sent.push(
        bus.publish(topics.twinUpdateDelta(id), delta, { qos: 1 }).catch((error: unknown) => {
          // Not sent: forgotten, so that the next update publishes it again.
          if (this.published.get(id) === intents) this.published.delete(id);
          throw error;
        }),
      );
    }
    await Promise.all(sent).catch((error: unknown) =>
      this.ctx.log.warn({ device: id, err: (error as Error).message }, 'twin result not published'),
    );
    this.countDelta(id, applied.delta);
    return applied;
  }

  /**
   * Whether `delta` asks for something the last published delta of the device did not: a property came in
   * or left, or one's expected value or desired version changed. An update that only changed actual values
   * of properties outside the delta (every report of a read-only sensor) publishes nothing. The first
   * non-empty delta after edgecore starts is published once, as nothing is remembered across restarts.
   * A delta that became empty is not published (KubeEdge never publishes an empty one; `update/result` and
   * `update/document` already show the property caught up) but is remembered: the same intent coming back
   * (the device drifted away from it) is published again.
   * Called once per update, after its commit, in commit order: so what it remembers is what went out.
   */
  private deltaWorthPublishing(id: string, twins: DeviceTwins, delta: Record<string, string>): boolean {
    const intents = deltaIntents(twins, delta);
    const last = this.published.get(id);
    this.published.set(id, intents);
    return intents.size > 0 && !(last && sameIntents(last, intents));
  }

  /** Keeps the gauge of properties with a pending delta, over every device, without a scan of them. */
  private countDelta(id: string, delta: Record<string, string>): void {
    const count = Object.keys(delta).length;
    const before = this.deltas.get(id) ?? 0;
    if (count === before && this.deltas.has(id)) return;
    this.deltas.set(id, count);
    this.deltaTotal += count - before;
    this.ctx.metrics.deltas.set(this.deltaTotal);
  }

  private async refuse(id: string, refusal: Extract<UpdateOutcome, { ok: false }>, eventId?: string) {
    this.ctx.metrics.twinRefused.inc({ code: String(refusal.code) });
    this.ctx.log.warn({ device: id, code: refusal.code, reason: refusal.reason }, 'twin update refused');
    await this.ctx.bus
      .publish(topics.twinUpdateResult(id), {
        event_id: eventId ?? crypto.randomUUID(),
        timestamp: Date.now(),
        code: refusal.code,
        reason: refusal.reason,
      })
      .catch(() => {});
    return refusal;
  }

  /** Not awaited: the next message is applied while this one waits for its group commit. */
  private onTwinUpdate(topic: string, twin: MsgTwinMap, eventId: string): void {
    const id = topics.parseDeviceTopic(topic)!.id;
    void this.update(id, twin, 'edge', eventId);
  }

  private async onTwinGet(topic: string, eventId: string): Promise<void> {
    const id = topics.parseDeviceTopic(topic)!.id;
    const stamp = { event_id: eventId, timestamp: Date.now() };
    // The cache's twins are never modified (an update replaces them), and snapshot() copies: no clone here.
    const twins = this.ctx.devices.has(id) ? (this.cache.get(id) ?? {}) : undefined;
    await this.ctx.bus.publish(
      topics.twinGetResult(id),
      twins ? { ...stamp, twin: snapshot(twins) } : { ...stamp, code: 404, reason: `no device ${id}` },
    );
  }

  private async onStateUpdate(topic: string, state: string, eventId: string): Promise<void> {
    const id = topics.parseDeviceTopic(topic)!.id;
    const device = this.ctx.devices.get(id);
    const stamp = { event_id: eventId, timestamp: Date.now() };
    if (!device) {
      await this.ctx.bus.publish(topics.stateUpdateResult(id), {
        ...stamp,
        code: 404,
        reason: `no device ${id}`,
      });
      return;
    }
    const lastOnlineTime =
      state === 'online' ? new Date().toISOString() : (this.ctx.store.device(id)?.lastOnline ?? '');
    await this.ctx.store.setState(id, state, lastOnlineTime);
    this.ctx.cloud?.notifyState(id, state, lastOnlineTime || undefined);
    this.ctx.metrics.setState(id, state);
    await this.ctx.bus.publish(topics.stateUpdateResult(id), {
      ...stamp,
      device: { name: device.name, state, lastOnlineTime },
    });
  }

  private async onMembershipGet(topic: string, eventId: string): Promise<void> {
    const node = topics.parseNodeTopic(topic)?.node ?? this.ctx.config.nodeName;
    const devices = [...this.ctx.devices.values()].map((d) => ({
      id: d.id,
      name: d.name,
      description: d.model.metadata.name,
      state: this.ctx.store.device(d.id)?.state ?? 'unknown',
      twin: snapshot(this.cache.get(d.id) ?? {}),
    }));
    await this.ctx.bus.publish(topics.membershipGetResult(node), {
      event_id: eventId,
      timestamp: Date.now(),
      devices,
    });
  }
}

/** Whether an update only reports values: no desired value, no twin removed. */
function reportsOnly(update: MsgTwinMap): boolean {
  for (const key in update) {
    const twin = update[key];
    if (twin == null || twin.expected !== undefined || twin.expected_version !== undefined) return false;
  }
  return true;
}

/** Desired values must fit the model: writable, the right type, within minimum/maximum. */
function checkAgainstModel(device: ResolvedDevice, update: MsgTwinMap): string | undefined {
  for (const [name, twin] of Object.entries(update)) {
    const value = twin?.expected?.value;
    const property = device.properties.find((p) => p.name === name)?.model;
    if (value == null || !property) continue;
    if (property.accessMode === 'ReadOnly')
      return `${name}: ReadOnly in the model, it cannot have a desired value`;
    const checked = checkTwinValue(property.type, value, property);
    if (!checked.ok) return `${name}: ${checked.reason}`;
  }
  return undefined;
}
