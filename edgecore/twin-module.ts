import { Type } from '@sinclair/typebox';
import {
  checkTwinValue,
  MembershipGet,
  type MsgTwin,
  type MsgTwinMap,
  type ResolvedDevice,
  STATE_UPDATE_STATES,
  StateUpdate,
  stateNamed,
  TwinGet,
  TwinUpdate,
  twinTypeOf,
} from '../device-models/internal.js';
import { topics } from '../sdk/internal.js';
import { type DeltaIntents, deltaIntents, sameIntents } from '../twin/delta-intents.js';
import { reportInPlace } from '../twin/report-in-place.js';
import { applyUpdate, deltaTwins, snapshot } from '../twin/rules.js';
import type { ApplyResult, DeviceTwins, UpdateSource } from '../twin/types.js';
import type { EdgeContext } from './context.js';
import { deviceDescription, membershipDevice } from './membership.js';

const ANY = topics.ANY_DEVICE;

export type UpdateOutcome = ApplyResult | { ok: false; code: 404 | 503; reason: string };

/**
 * What the twin module tells its listeners (TwinModule.listen), in the order it happened for each device:
 * `twin`, the twins an update changed (null: deleted) with every twin and the delta after it, once the update
 * is acknowledged (after its commit; reported values written behind, when applied, as reads see them);
 * `state`, a state/update once stored (every one, repeated states included). The objects are the module's
 * own: a listener reads them and keeps nothing it would change.
 */
export type TwinEvent =
  | {
      kind: 'twin';
      id: string;
      changed: Readonly<Record<string, MsgTwin | null>>;
      twins: Readonly<DeviceTwins>;
      delta: Readonly<Record<string, string>>;
    }
  | { kind: 'state'; id: string; state: string; lastOnlineTime: string };

/**
 * The DeviceTwin on the EventBus: applies twin updates from mappers and apps (and desired values from the
 * HTTP API) with KubeEdge's rules, persists them (acknowledged only after commit), then publishes, in order,
 * `update/result`, `update/document` and `update/delta`, and queues the cloud sync in the outbox. A cloud
 * sync publishes no result (as in KubeEdge) but `twin/cloud_updated` with the twins it changed.
 * Also answers `twin/get`, `state/update` and `membership/get`. Bad payloads get a result with a code.
 * Results echo the request's `event_id`, "" when it had none, as KubeEdge's do.
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
  /** Per device, the order of updates applied to the cache, and the updates a refused write voided. */
  private readonly chains = new Map<string, Chain>();
  /** Who is told of changes (listen); empty, as nearly always, costs an update one size check. */
  private readonly listeners = new Set<(event: TwinEvent) => void>();
  /** Twins that reports write into (reportInPlace): made by this module, held by its cache alone. */
  private readonly owned = new WeakSet<MsgTwin>();
  /** Write-behind batches whose commit already tells the cloud link (one hook per batch, not per report). */
  private readonly hooked = new WeakSet<Promise<void>>();
  /** Each device's `update/result` and `update/document` topics, asked about at every report: made once. */
  private readonly answerTopics = new Map<string, readonly [result: string, document: string]>();

  constructor(private readonly ctx: EdgeContext) {}

  async start(): Promise<void> {
    for (const [id, twins] of this.ctx.store.allTwins()) this.cache.set(id, twins);
    const { bus } = this.ctx;
    // A topic whose device id cannot be read (an empty level) is answered beside it all the same.
    const result = (build: (id: string) => string) => (topic: string) => {
      const parsed = topics.parseDeviceTopic(topic);
      return parsed ? build(parsed.id) : `${topic}/result`;
    };
    this.unsubscribe.push(
      await bus.subscribe(
        topics.twinUpdate(ANY),
        TwinUpdate,
        (topic, payload) => this.onTwinUpdate(topic, payload.twin, payload.event_id ?? ''),
        { resultTopic: result(topics.twinUpdateResult), qos: 1 },
      ),
      await bus.subscribe(
        topics.twinGet(ANY),
        TwinGet,
        (topic, payload) => this.onTwinGet(topic, payload.event_id ?? ''),
        {
          resultTopic: result(topics.twinGetResult),
        },
      ),
      await bus.subscribe(
        topics.stateUpdate(ANY),
        StateUpdate,
        // Not awaited, as twin/update: the next one is taken while this one waits for its group commit.
        (topic, payload) => void this.onStateUpdate(topic, payload.state, payload.event_id ?? ''),
        { resultTopic: result(topics.stateUpdateResult), qos: 1 },
      ),
      await bus.subscribe(
        topics.membershipGet(topics.ANY_NODE),
        MembershipGet,
        (topic, payload) => this.onMembershipGet(topic, payload.event_id ?? ''),
        { resultTopic: (topic) => `${topic}/result` },
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

  /**
   * Calls `listener` with every twin change and stored state from now on (TwinEvent), synchronously, in
   * order. A listener that throws is logged and kept. Returns the function that removes it.
   */
  listen(listener: (event: TwinEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private emit(event: TwinEvent): void {
    for (const listener of this.listeners)
      try {
        listener(event);
      } catch (error) {
        this.ctx.log.warn({ device: event.id, err: (error as Error).message }, 'twin listener failed');
      }
  }

  /** The twins of a device (a copy), or undefined for an unknown device. */
  twins(id: string): DeviceTwins | undefined {
    if (!this.ctx.devices.has(id)) return undefined;
    return structuredClone(this.cache.get(id) ?? {});
  }

  /**
   * Registers a device: its row (with KubeEdge's `description`, the Device's label of that name), and a twin
   * per property, typed from the model in KubeEdge's set (twinTypeOf: a DOUBLE is a `float` with
   * `metadata.modelType` DOUBLE), desired from the spec.
   */
  async addDevice(device: ResolvedDevice): Promise<void> {
    this.ctx.store.upsertDevice({
      id: device.id,
      namespace: device.namespace,
      name: device.name,
      description: deviceDescription(device) ?? '',
    });
    const existing = this.cache.get(device.id) ?? {};
    const initial: MsgTwinMap = {};
    for (const property of device.properties) {
      if (existing[property.name]) continue;
      initial[property.name] = {
        optional: false,
        metadata: twinTypeOf(property.model.type),
        ...(property.desired !== undefined ? { expected: { value: property.desired } } : {}),
      };
    }
    if (Object.keys(initial).length > 0) await this.update(device.id, initial, 'edge');
  }

  removeDevice(id: string): void {
    this.cache.delete(id);
    this.answerTopics.delete(id);
    this.deltaTotal -= this.deltas.get(id) ?? 0;
    this.deltas.delete(id);
    this.ctx.metrics.deltas.set(this.deltaTotal);
    this.published.delete(id);
    this.chains.delete(id);
    this.ctx.store.removeDevice(id);
  }

  /**
   * Sets a desired value at the edge (HTTP, or an app). `basedOn`, the `expected_version` the value was based
   * on, makes it conditional: 409 when the twin has moved on since (`if_expected_version`).
   */
  setDesired(id: string, property: string, value: string, basedOn?: { cloud: number; edge: number }) {
    const device = this.ctx.devices.get(id);
    if (!device) return Promise.resolve<UpdateOutcome>({ ok: false, code: 404, reason: `no device ${id}` });
    if (!device.properties.some((p) => p.name === property))
      return Promise.resolve<UpdateOutcome>({
        ok: false,
        code: 404,
        reason: `device ${id} has no property "${property}"`,
      });
    const twin: MsgTwin = { expected: { value }, ...(basedOn ? { if_expected_version: basedOn } : {}) };
    return this.update(id, { [property]: twin }, 'edge', undefined, 'http');
  }

  /**
   * Applies an update, persists it, then publishes result → document → delta (a cloud sync: document → delta
   * → cloud_updated). `eventId` is the request's (echoed; "" for a request without one); undefined for an
   * update of edgecore's own (HTTP, a device added, the cloud), whose messages get a fresh one.
   */
  async update(
    id: string,
    update: MsgTwinMap,
    source: UpdateSource,
    eventId?: string,
    label: string = source,
  ): Promise<UpdateOutcome> {
    const device = this.ctx.devices.get(id);
    if (!device) return this.refuse(id, { ok: false, code: 404, reason: `no device ${id}` }, source, eventId);
    const modelProblem = checkAgainstModel(device, update);
    if (modelProblem) return this.refuse(id, { ok: false, code: 400, reason: modelProblem }, source, eventId);
    const { bus } = this.ctx;
    const [result, document] = this.answersOf(id);
    const previous = this.cache.get(id) ?? {};
    const outOfBounds = boundsProblem(previous, update);
    if (outOfBounds) return this.refuse(id, { ok: false, code: 400, reason: outOfBounds }, source, eventId);
    const applied = applyUpdate(previous, update, { source, now: Date.now() });
    if (!applied.ok) return this.refuse(id, applied, source, eventId);
    // Applied to the cache at once, in arrival order; persisted by the next group commit.
    this.cache.set(id, applied.twins);
    const seq = this.chainOf(id).applied++;
    const changed = Object.keys(applied.result).length > 0;
    // An edge update's sync is exactly its changed twins (tombstones included), in order: no second map.
    const changedTwins: Record<string, MsgTwin | null> =
      source === 'edge'
        ? applied.sync
        : Object.fromEntries(Object.keys(applied.result).map((name) => [name, applied.twins[name] ?? null]));
    if (changed) {
      // Beyond KubeEdge, a cloud sync the edge took goes back too: the cloud shows it as observedDesired.
      const sync = source === 'cloud' ? { ...changedTwins, ...applied.sync } : applied.sync;
      if (source === 'edge' && !this.committing.has(id) && reportsOnly(update) && !bus.heard(result)) {
        // Reported values that nobody waits on: written behind (twin.writeBehindMs), coalesced per twin.
        this.writeBehind(id, changedTwins, sync);
      } else
        try {
          this.committing.set(id, (this.committing.get(id) ?? 0) + 1);
          await this.ctx.store.write(id, changedTwins, sync);
          if (Object.keys(sync).length > 0) this.ctx.cloud?.notifyOutbox();
        } catch (error) {
          // Not stored, so not acknowledged, and no trace of it may stay in the cache.
          this.rollBack(id, seq, previous);
          return this.refuse(
            id,
            { ok: false, code: 503, reason: `not stored: ${(error as Error).message}` },
            source,
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
    // The document carries the update's event_id, as KubeEdge's does; the delta a fresh one, as there.
    const stamp = { event_id: eventId ?? crypto.randomUUID(), timestamp: Date.now() };
    const sent: Promise<void>[] = [];
    // Built and sent only when someone can hear it: an in-process mapper reporting every second has no
    // subscriber on its result, and encoding every twin of it each time cost more than storing them.
    // A cloud sync has no requester at the edge: no result, as in KubeEdge (which answers RestDealType only).
    if (source === 'edge' && bus.heard(result))
      sent.push(bus.publish(result, { ...stamp, twin: applied.result }, { qos: 1 }));
    // Only when a value, type or `optional` changed: a mapper repeating what it read gets its result (with
    // the new versions), and the cloud its sync, but apps are not told of a change that did not happen.
    if (Object.keys(applied.document).length > 0 && bus.heard(document))
      sent.push(bus.publish(document, { ...stamp, twin: applied.document }, { qos: 1 }));
    // An update that changed nothing cannot change the delta's intents itself (one still waiting for its
    // commit may have, and publishes them once committed), so it publishes no delta.
    if (changed && this.deltaWorthPublishing(id, applied.twins, applied.delta)) {
      const delta = {
        event_id: crypto.randomUUID(),
        timestamp: stamp.timestamp,
        twin: deltaTwins(applied.twins),
        delta: applied.delta,
      };
      const intents = this.published.get(id);
      sent.push(
        bus.publish(topics.twinUpdateDelta(id), delta, { qos: 1 }).catch((error: unknown) => {
          // Not sent: forgotten, so that the next update publishes it again.
          if (this.published.get(id) === intents) this.published.delete(id);
          throw error;
        }),
      );
    }
    // The cloud changed twins: `twin/cloud_updated` with each as it now is (a deleted one typed `deleted`), in
    // the shape of the cloud sync KubeEdge's edgecore takes on that topic (DeviceTwinUpdate, with versions).
    const cloudUpdated = topics.twinCloudUpdated(id);
    if (source === 'cloud' && changed && bus.heard(cloudUpdated))
      sent.push(bus.publish(cloudUpdated, { ...stamp, twin: changedTwins }, { qos: 1 }));
    // Not awaited: the update is stored and answered to its caller (an HTTP PUT) whether or not the broker
    // is there; the messages were issued in order and the EventBus delivers them when it can.
    if (sent.length > 0)
      void Promise.all(sent).catch((error: unknown) =>
        this.ctx.log.warn({ device: id, err: (error as Error).message }, 'twin result not published'),
      );
    this.countDelta(id, applied.delta);
    if (changed && this.listeners.size > 0)
      this.emit({ kind: 'twin', id, changed: changedTwins, twins: applied.twins, delta: applied.delta });
    return applied;
  }

  /**
   * A mapper's plain report that nobody waits on, applied to the cached twins in place (reportInPlace) and
   * written behind: what update() would do with it, publishing nothing, as update() would publish nothing
   * either (no result or document heard, the delta's intents unchanged, no listener). False, with nothing
   * done, for any other update: update() takes it.
   */
  private reportedInPlace(id: string, update: MsgTwinMap): boolean {
    const twins = this.cache.get(id);
    const { bus } = this.ctx;
    if (!twins || this.committing.has(id) || this.listeners.size > 0) return false;
    // A standing delta not yet published since start goes out with update()'s first report (see
    // deltaWorthPublishing); after that, a report that leaves every twin as pending (or caught up) as it was
    // cannot change what was published.
    const standing = this.deltas.get(id);
    if (standing === undefined || (standing > 0 && !this.published.has(id))) return false;
    if (!this.ctx.devices.has(id)) return false;
    const [result, document] = this.answersOf(id);
    if (bus.heard(result) || bus.heard(document)) return false;
    const changed = reportInPlace(twins, update, Date.now(), this.owned);
    if (!changed) return false;
    this.chainOf(id).applied++;
    this.writeBehind(id, changed, changed);
    this.ctx.metrics.countEdgeReport();
    return true;
  }

  /** The device's `update/result` and `update/document` topics (of a known device: kept until it is removed). */
  private answersOf(id: string): readonly [result: string, document: string] {
    let answers = this.answerTopics.get(id);
    if (!answers) {
      answers = [topics.twinUpdateResult(id), topics.twinUpdateDocument(id)];
      if (this.ctx.devices.has(id)) this.answerTopics.set(id, answers);
    }
    return answers;
  }

  /** Held by the store and committed with the next batch; the cloud link is told once that batch is in. */
  private writeBehind(id: string, changed: Record<string, MsgTwin | null>, sync: MsgTwinMap): void {
    const committed = this.ctx.store.writeBehind(id, changed, sync);
    if (this.hooked.has(committed)) return;
    this.hooked.add(committed);
    committed.then(
      () => this.ctx.cloud?.notifyOutbox(),
      () => {}, // the store logs it
    );
  }

  private chainOf(id: string): Chain {
    let chain = this.chains.get(id);
    if (!chain) {
      chain = { applied: 0, voidFrom: 0, voidTo: 0 };
      this.chains.set(id, chain);
    }
    return chain;
  }

  /**
   * The write of update `seq` was refused by the store: the cache goes back to what it held before that
   * update (`previous`). Every update of the device applied since was built on it; the store refuses their
   * writes too (GroupCommit's chains), and their own rollBack finds them void here, already undone. An
   * earlier update refused later (refused at once while this one waited for its batch) goes back further.
   */
  private rollBack(id: string, seq: number, previous: DeviceTwins): void {
    const chain = this.chainOf(id);
    if (seq >= chain.voidFrom && seq < chain.voidTo) return;
    chain.voidFrom = seq;
    chain.voidTo = chain.applied;
    this.cache.set(id, previous);
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

  /** Counts and logs a refusal, and answers it on `update/result` (an edge update's; the cloud has its own). */
  private async refuse(
    id: string,
    refusal: Extract<UpdateOutcome, { ok: false }>,
    source: UpdateSource,
    eventId?: string,
  ) {
    this.ctx.metrics.twinRefused.inc({ code: String(refusal.code) });
    this.ctx.log.warn(
      { device: id, code: refusal.code, reason: refusal.reason, source },
      'twin update refused',
    );
    // Not awaited either (see update).
    if (source === 'edge')
      void this.ctx.bus
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
    const id = topics.parseDeviceTopic(topic)?.id;
    if (id === undefined) this.badTopic(topic, eventId);
    else if (!this.reportedInPlace(id, twin)) void this.update(id, twin, 'edge', eventId);
  }

  /** A device topic with an empty, `+`, `#` or NUL namespace or name: 400 beside it (see start()). */
  private badTopic(topic: string, eventId: string): void {
    this.ctx.metrics.twinRefused.inc({ code: '400' });
    void this.ctx.bus
      .publish(`${topic}/result`, {
        event_id: eventId,
        timestamp: Date.now(),
        code: 400,
        reason: `${topic}: no device here (namespace and name must be non-empty, without + # or NUL)`,
      })
      .catch(() => {});
  }

  /** `twin/get` → `twin/get/result`: every live twin, echoing the request's event_id ("" when it had none). */
  private async onTwinGet(topic: string, eventId: string): Promise<void> {
    const id = topics.parseDeviceTopic(topic)?.id;
    if (id === undefined) return this.badTopic(topic, eventId);
    const stamp = { event_id: eventId, timestamp: Date.now() };
    // The cache's twins are never modified (an update replaces them), and snapshot() copies: no clone here.
    const twins = this.ctx.devices.has(id) ? (this.cache.get(id) ?? {}) : undefined;
    await this.ctx.bus.publish(
      topics.twinGetResult(id),
      twins ? { ...stamp, twin: snapshot(twins) } : { ...stamp, code: 404, reason: `no device ${id}` },
    );
  }

  /**
   * `state/update` → `state/update/result`. The state is taken in any case and kept lower case (KubeEdge
   * compares it lower-cased, and keeps the spelling it got); online and ok stamp `last_online`. The result is
   * KubeEdge's `{device: {name, state, last_online}}`, with the request's event_id when it had one (KubeEdge
   * always gives a fresh one). A state KubeEdge ignores, or an unknown device, gets a 400 or 404 here.
   */
  private async onStateUpdate(topic: string, reported: string, eventId: string): Promise<void> {
    const id = topics.parseDeviceTopic(topic)?.id;
    if (id === undefined) return this.badTopic(topic, eventId);
    const device = this.ctx.devices.get(id);
    const state = stateNamed(reported);
    const answer = topics.stateUpdateResult(id);
    if (!device || !state) {
      const refusal = device
        ? { code: 400, reason: `/state must be one of ${STATE_UPDATE_STATES.join(', ')} (got "${reported}")` }
        : { code: 404, reason: `no device ${id}` };
      await this.ctx.bus.publish(answer, { event_id: eventId, timestamp: Date.now(), ...refusal });
      return;
    }
    const lastOnline =
      state === 'online' || state === 'ok'
        ? new Date().toISOString()
        : (this.ctx.store.device(id)?.lastOnline ?? '');
    try {
      await this.ctx.store.setState(id, state, lastOnline);
    } catch (error) {
      this.ctx.metrics.twinRefused.inc({ code: '503' });
      await this.ctx.bus.publish(answer, {
        event_id: eventId,
        timestamp: Date.now(),
        code: 503,
        reason: `not stored: ${(error as Error).message}`,
      });
      return;
    }
    this.ctx.cloud?.notifyState(id, state, lastOnline || undefined);
    this.ctx.metrics.setState(id, state);
    if (this.listeners.size > 0) this.emit({ kind: 'state', id, state, lastOnlineTime: lastOnline });
    await this.ctx.bus.publish(answer, {
      event_id: eventId || crypto.randomUUID(),
      timestamp: Date.now(),
      device: { name: device.name, state, ...(lastOnline ? { last_online: lastOnline } : {}) },
    });
  }

  /** `membership/get` → `membership/get/result`: the node's devices as KubeEdge lists them (no twins). */
  private async onMembershipGet(topic: string, eventId: string): Promise<void> {
    const node = topics.parseNodeTopic(topic)?.node ?? this.ctx.config.nodeName;
    const devices = [...this.ctx.devices.values()].map((d) =>
      membershipDevice(d, this.ctx.store.device(d.id)),
    );
    await this.ctx.bus.publish(topics.membershipGetResult(node), {
      event_id: eventId,
      timestamp: Date.now(),
      devices,
    });
  }
}

/**
 * Where a device's chain of updates stands: `applied` counts the updates applied to its cache; those from
 * `voidFrom` to before `voidTo` were built on a write the store refused and were undone with it.
 */
interface Chain {
  applied: number;
  voidFrom: number;
  voidTo: number;
}

/** Whether an update only reports values: no desired value, no conditional write, no twin removed. */
function reportsOnly(update: MsgTwinMap): boolean {
  for (const key in update) {
    const twin = update[key];
    if (twin == null || twin.expected !== undefined || twin.if_expected_version != null) return false;
  }
  return true;
}

/** How many twins a device may have: every property of a model, and far more than any device needs. */
export const MAX_TWINS_PER_DEVICE = 1024;
/**
 * An update that would give the device more than MAX_TWINS_PER_DEVICE twins. (Metadata needs no bound of its
 * own: the rules keep only the keys KubeEdge's has, and the EventBus refuses payloads nesting deeper than 32.)
 */
function boundsProblem(current: DeviceTwins, update: MsgTwinMap): string | undefined {
  let count = -1; // counted when a new twin comes: reports of existing ones (nearly all) do not pay for it
  for (const name in update) {
    const twin = update[name];
    if (twin != null && !Object.hasOwn(current, name) && count === -1) count = Object.keys(current).length;
    if (twin != null && !Object.hasOwn(current, name) && ++count > MAX_TWINS_PER_DEVICE)
      return `a device has at most ${MAX_TWINS_PER_DEVICE} twins; "${name}" would be one more`;
  }
  return undefined;
}

/** Desired values must fit the model: writable, the right type, within minimum/maximum. */
function checkAgainstModel(device: ResolvedDevice, update: MsgTwinMap): string | undefined {
  for (const name in update) {
    const value = update[name]?.expected?.value;
    if (value == null || !Object.hasOwn(update, name)) continue; // a report: nothing desired to check
    const property = device.properties.find((p) => p.name === name)?.model;
    if (!property) continue;
    if (property.accessMode === 'ReadOnly')
      return `${name}: ReadOnly in the model, it cannot have a desired value`;
    const checked = checkTwinValue(property.type, value, property);
    if (!checked.ok) return `${name}: ${checked.reason}`;
  }
  return undefined;
}
