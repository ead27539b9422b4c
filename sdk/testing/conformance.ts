import { describe, expect, it, type TestContext } from 'vitest';
import type { PropertyType, ResolvedDevice, TwinValue } from '../../device-models/index.js';
import type { ProtocolMapper } from '../driver.js';
import { describeSharedLine } from './conformance-shared-line.js';
import {
  type AnyDriver,
  calls,
  codeOf,
  defaultWriteValue,
  describeError,
  newDriver,
  openCall,
  pointOf,
  readingProblem,
  settled,
  show,
  twinText,
  within,
  writableOf,
} from './conformance-support.js';
import { describeTypedWrites } from './conformance-typed-writes.js';

/** A running simulator, as the conformance suite drives it. */
export interface SimulatorHandle {
  /** The protocol config that reaches it (merged over the device's own config). */
  config: Record<string, unknown>;
  stop(): Promise<void>;
}

/** Several devices on one connection (one serial line, one TCP endpoint), served by one simulator. */
export interface SharedLine {
  /** Two or more devices, each with the protocol config that reaches it on the line. */
  devices: { device: ResolvedDevice; config: Record<string, unknown> }[];
  /** Stops the line's simulator; safe to call twice. */
  stop(): Promise<void>;
  /**
   * Optional test control: puts a value into one device's property on the simulator, so that each device can
   * be shown to read its own values even when nothing on it is writable.
   */
  set?(device: string, property: string, value: TwinValue): void;
  /** Optional: makes one device on the line stop answering (true) or answer again (false). */
  setSilent?(device: string, silent: boolean): void;
}

/** One property written with values of its type, read back through the driver. */
export interface TypedWrite {
  /** A property of `typedWrites.device`. */
  property: string;
  /** A value the device holds exactly: it must read back equal after the property's codec. */
  value: TwinValue;
  /**
   * A value the device cannot hold exactly (21.55 into a register of tenths), and what the driver does with
   * it: `holds` is the value that reads back (rounding), or `refused` the error code it is refused with.
   */
  inexact?: { value: TwinValue; holds: TwinValue } | { value: TwinValue; refused: string };
  /** Values the device cannot hold at all (40000 into an int16): refused, with VALUE_OUT_OF_RANGE, before anything is sent. */
  refuses?: TwinValue[];
}

/** Writes of every property type the driver supports, on a device made for it. */
export interface TypedWrites {
  /** A device with one writable property per type or encoding to exercise. */
  device: ResolvedDevice;
  /** Starts a simulator serving that device. */
  startSimulator(): Promise<SimulatorHandle>;
  writes: TypedWrite[];
  /** Model types the protocol cannot write, with the reason: reported as skipped cases. */
  unsupportedTypes?: Partial<Record<PropertyType, string>>;
}

/** Why a case does not apply to this driver; reported as a skipped case with the reason. */
export interface Unsupported {
  /** E.g. "OPC UA: every device opens its own session; nothing is shared". */
  sharedLine?: string;
  typedWrites?: string;
}

/** What `describeConformance` runs against: a mapper, a device, and its simulator. */
export interface ConformanceTarget {
  /** Shown in the test names, e.g. "modbus over RTU". */
  name: string;
  /** The protocol under test (`loadProtocolMapper(registration)`). */
  mapper: ProtocolMapper;
  /** The device whose properties are exercised: a sample, resolved. */
  device: ResolvedDevice;
  /**
   * Starts a simulator serving `device`. Every case starts its own and stops it when done; after `stop()` it
   * must come back on the same address (the reconnect case restarts it).
   */
  startSimulator(): Promise<SimulatorHandle>;
  /** Makes the simulator last started stop answering requests (true) or answer again (false). */
  setSilent(silent: boolean): void;
  /** The value to write to each writable property; defaults come from the model's bounds. */
  writeValues?: Record<string, TwinValue>;
  /** How long a request may take before the driver must give up, ms (the config's timeout); default 500. */
  timeoutMs?: number;
  /** Starts a line with several devices on one connection; without it the shared-line cases are skipped. */
  sharedLine?: () => Promise<SharedLine>;
  /** Writes of each property type, read back; without it the typed-write cases are skipped. */
  typedWrites?: TypedWrites;
  /** Properties to subscribe to (when the driver has `subscribe`); default those whose visitor sets `subscribe` or `notify`. */
  subscribeProperties?: string[];
  /** Reasons for cases that do not apply, shown with the skip. */
  unsupported?: Unsupported;
}

const HANDLE_KINDS = new Set(['TCPSocketWrap', 'TCPServerWrap', 'PipeWrap', 'TTYWrap', 'FSEvent']);

function openHandles(): number {
  return process.getActiveResourcesInfo().filter((kind) => HANDLE_KINDS.has(kind)).length;
}

/** Resolves once `condition()` holds, checking every 10 ms; rejects with `message` after `ms`. */
async function until(condition: () => boolean, ms: number, message: string): Promise<void> {
  await within(
    (async () => {
      while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
    })(),
    ms,
    message,
  );
}

/** A simulator and a driver for one case, stopped when the case ends however it ends. */
interface Session {
  simulator: SimulatorHandle;
  driver: AnyDriver;
  config: () => Record<string, unknown>;
}

/**
 * The mapper conformance suite: a protocol is done when this passes against its simulator. Every case starts
 * its own simulator and driver, so cases run alone (`-t`) or in any order (`--sequence.shuffle`). A case that
 * does not apply to the driver (no batching, no subscriptions, nothing writable, no shared line) is reported
 * as skipped with the reason. Nothing asserts on elapsed time: timeouts are given to the driver, and the suite
 * waits for it to give up with a bound.
 */
export function describeConformance(target: ConformanceTarget): void {
  describe(`mapper conformance: ${target.name}`, () => {
    const timeoutMs = target.timeoutMs ?? 500;
    const { call, connect, bound } = calls(timeoutMs);
    const caseTimeout = { timeout: Math.max(30_000, bound * 4) };
    const device = target.device;
    // What the driver declares: decided once, before any case runs, from a driver that is never connected.
    const probe = newDriver(target.mapper);
    const readable = device.properties.filter((p) => probe.readable?.(pointOf(p)) ?? true);
    const batches = probe.readMany !== undefined;
    const subscribes = probe.subscribe !== undefined;
    void probe.close();
    const first = readable[0];

    async function session(ctx: TestContext, options: { connect?: boolean } = {}): Promise<Session> {
      const s: Session = {
        simulator: await target.startSimulator(),
        driver: newDriver(target.mapper),
        config: () => ({ ...device.config, ...s.simulator.config }),
      };
      ctx.onTestFinished(async () => {
        target.setSilent(false);
        await s.driver.close();
        await s.simulator.stop();
      });
      if (options.connect ?? true) {
        const connected = await settled(s.driver.connect(s.config(), connect()));
        if (!connected.ok)
          throw new Error(
            `connect to the simulator failed with ${describeError(connected.error)}; the driver must reach a running simulator with config ${show(s.config())}`,
          );
      }
      return s;
    }

    function needReadable(ctx: TestContext): NonNullable<typeof first> {
      if (!first) ctx.skip(`${device.id} has no property the driver can read (readable() is false for all)`);
      return first as NonNullable<typeof first>;
    }

    it('connects', caseTimeout, async (ctx) => {
      const { driver, config } = await session(ctx, { connect: false });
      const result = await settled(driver.connect(config(), connect()));
      expect(
        result.ok ? undefined : describeError(result.error),
        `connect(config) must resolve once the device is reachable; config ${show(config())}`,
      ).toBeUndefined();
    });

    it('reads every property with the type its model gives', caseTimeout, async (ctx) => {
      needReadable(ctx);
      const { driver } = await session(ctx);
      for (const property of readable) {
        const result = await settled(driver.read(pointOf(property), call()));
        const problem = readingProblem(property, result.ok ? result.value : (result.error as Error));
        expect(problem, `read(${property.name}): ${problem}`).toBeUndefined();
      }
    });

    it('reads a batch with one result per point, in order', caseTimeout, async (ctx) => {
      if (!batches) ctx.skip('the driver has no readMany(): the runtime reads each property alone');
      needReadable(ctx);
      const { driver } = await session(ctx);
      const points = readable.map(pointOf);
      const results = await driver.readMany!(points, call());
      expect(
        results.length,
        `readMany must return one result per point, in order; got ${results.length} for ${points.length} points (${points.map((p) => p.name).join(', ')})`,
      ).toBe(points.length);
      for (const [i, property] of readable.entries()) {
        const problem = readingProblem(property, results[i]);
        expect(problem, `readMany result ${i} (${property.name}): ${problem}`).toBeUndefined();
      }
    });

    const writable = writableOf(device);
    if (writable.length === 0)
      it('writes every writable property and reads the value back', (ctx) =>
        ctx.skip(`${device.id} has no writable property (all ReadOnly): give the suite a device with one`));
    for (const property of writable) {
      const value = target.writeValues?.[property.name] ?? defaultWriteValue(property);
      const readsBack = probe.readable?.(pointOf(property)) ?? true;
      it(
        `writes ${property.name} = ${show(value)}${readsBack ? ' and reads it back' : ''}`,
        caseTimeout,
        async (ctx) => {
          const { driver } = await session(ctx);
          const written = await settled(driver.write(pointOf(property), value, call()));
          expect(
            written.ok ? undefined : describeError(written.error),
            `write(${property.name}, ${show(value)}) must resolve once the device took the value`,
          ).toBeUndefined();
          if (readsBack) {
            const read = await driver.read(pointOf(property), call());
            expect(
              twinText(property, read.value),
              `${property.name}: wrote ${show(value)}, read back ${show(read.value)}; a write must reach the device's ${property.name}, and a read return what it holds`,
            ).toBe(twinText(property, value));
          }
        },
      );
      if (!readsBack)
        it(`reads ${property.name} back after a write`, (ctx) =>
          ctx.skip(`${property.name} is write-only: the driver's readable() is false for it`));
    }

    const subscribable = device.properties.filter((p) => {
      const v = p.visitor as { subscribe?: unknown; notify?: unknown };
      return target.subscribeProperties?.includes(p.name) ?? (v.subscribe === true || v.notify === true);
    });
    it('subscribes: a first value arrives, then unsubscribe stops it', caseTimeout, async (ctx) => {
      if (!subscribes) ctx.skip('the driver has no subscribe(): the runtime polls every property');
      if (subscribable.length === 0)
        ctx.skip(
          `no property of ${device.id} asks for a subscription (visitor subscribe/notify, or subscribeProperties)`,
        );
      const { driver } = await session(ctx);
      for (const property of subscribable) {
        let resolveFirst: (reading: unknown) => void = () => {};
        const firstValue = new Promise((resolve) => {
          resolveFirst = resolve;
        });
        const unsubscribe = await driver.subscribe!(pointOf(property), (r) => resolveFirst(r), call());
        try {
          const reading = await within(
            firstValue,
            bound * 2,
            `subscribe(${property.name}): no value within ${bound * 2} ms; the driver must call onValue with the value the device pushes`,
          );
          const problem = readingProblem(property, reading as never);
          expect(problem, `subscribe(${property.name}) pushed a bad reading: ${problem}`).toBeUndefined();
        } finally {
          await unsubscribe();
        }
        await expect(
          unsubscribe(),
          `unsubscribe for ${property.name} must be safe to call twice`,
        ).resolves.toBeUndefined();
      }
    });

    it(
      'gives up with PROTOCOL_TIMEOUT when the device stops answering, then recovers',
      caseTimeout,
      async (ctx) => {
        const property = needReadable(ctx);
        const { driver } = await session(ctx);
        target.setSilent(true);
        const silent = await settled(
          within(
            driver.read(
              pointOf(property),
              openCall(timeoutMs, (f) => ctx.onTestFinished(f)),
            ),
            bound,
            `still waiting ${bound} ms after the device went silent; the request timeout was ${timeoutMs} ms (call.timeoutMs): the driver must give up on its own`,
          ),
        );
        target.setSilent(false);
        expect(
          silent.ok ? `a reading ${show(silent.value)}` : describeError(silent.error),
          `read(${property.name}) from a silent device must reject with PROTOCOL_TIMEOUT after call.timeoutMs (${timeoutMs} ms)`,
        ).toMatch(/^PROTOCOL_TIMEOUT/);
        // The same connection answers again: a timeout is the device's silence, not a lost connection.
        const again = await settled(driver.read(pointOf(property), call()));
        const problem = readingProblem(property, again.ok ? again.value : (again.error as Error));
        expect(problem, `after the device answers again, on the same connection: ${problem}`).toBeUndefined();
      },
    );

    it(
      'fails with DEVICE_UNAVAILABLE or PROTOCOL_TIMEOUT when the simulator goes away, and reconnects after it restarts',
      caseTimeout,
      async (ctx) => {
        const property = needReadable(ctx);
        const s = await session(ctx);
        await s.simulator.stop();
        const gone = await settled(
          within(
            s.driver.read(
              pointOf(property),
              openCall(timeoutMs, (f) => ctx.onTestFinished(f)),
            ),
            bound,
            `still waiting ${bound} ms after the simulator stopped; the driver must fail on its own`,
          ),
        );
        expect(
          gone.ok ? `a reading ${show(gone.value)}` : describeError(gone.error),
          `read(${property.name}) with the simulator gone must reject with DEVICE_UNAVAILABLE (connection lost) or PROTOCOL_TIMEOUT (no answer)`,
        ).toMatch(/^(DEVICE_UNAVAILABLE|PROTOCOL_TIMEOUT)/);
        await s.driver.close();
        s.simulator = await target.startSimulator();
        s.driver = newDriver(target.mapper);
        await s.driver.connect(s.config(), connect());
        const again = await settled(s.driver.read(pointOf(property), call()));
        const problem = readingProblem(property, again.ok ? again.value : (again.error as Error));
        expect(
          problem,
          `after the simulator restarted and a new driver connected: ${problem}`,
        ).toBeUndefined();
      },
    );

    it('closes cleanly: twice is fine, and no socket or port stays open', caseTimeout, async (ctx) => {
      const baseline = openHandles();
      const { driver, simulator } = await session(ctx);
      const point = pointOf(first ?? device.properties[0]!);
      if (first) await driver.read(point, call());
      await driver.close();
      await expect(driver.close(), 'close() a second time must resolve').resolves.toBeUndefined();
      const after = await settled(driver.read(point, call()));
      expect(
        after.ok ? `a reading ${show(after.value)}` : codeOf(after.error),
        `read(${point.name}) after close() must reject with DEVICE_UNAVAILABLE; got ${after.ok ? 'a reading' : describeError(after.error)}`,
      ).toBe('DEVICE_UNAVAILABLE');
      await simulator.stop();
      await until(
        () => openHandles() <= baseline,
        3000,
        `sockets, ports or watchers still open after close() and the simulator's stop (${openHandles()} of kinds ${[...HANDLE_KINDS].join('/')}, ${baseline} before): close() must release everything`,
      );
    });

    describeSharedLine(target, caseTimeout);
    describeTypedWrites(target, caseTimeout);
  });
}
