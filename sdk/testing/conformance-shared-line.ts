import { describe, expect, it, type TestContext } from 'vitest';
import type { ResolvedDevice, ResolvedProperty, TwinValue } from '../../device-models/index.js';
import { ConnectionPool } from '../runtime/connection-pool.js';
import type { ConformanceTarget, SharedLine } from './conformance.js';
import {
  type AnyDriver,
  calls,
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

const CASES = [
  'each device on one connection reads its own values',
  'a write to one device reaches that device only',
  'one device stopping or going silent does not break the others',
] as const;

const OWN_ADDRESS =
  "each device must be read and written under its own address (unit ID, request), never another's on the line";

interface Member {
  device: ResolvedDevice;
  config: Record<string, unknown>;
  driver: AnyDriver;
}

/** A value of the property's type other than `than`, within the model's bounds. */
function otherValue(p: ResolvedProperty, than: TwinValue): TwinValue {
  if (typeof than === 'boolean') return !than;
  if (typeof than === 'string') return `${than}-2`;
  const max = p.model.maximum === undefined ? Infinity : Number(p.model.maximum);
  return than + 1 <= max ? than + 1 : than - 1;
}

/** An integer-valued number (exact in every register encoding) that differs for each device index. */
function valueFor(p: ResolvedProperty, index: number): TwinValue {
  const base = defaultWriteValue(p);
  if (typeof base === 'boolean') return index % 2 === 0;
  if (typeof base === 'string') return `${base}-${index}`;
  return Math.round(base) + index;
}

/**
 * The shared-line cases: several devices on one connection (unit IDs on one Modbus TCP endpoint or RTU line,
 * devices on one multi-drop serial line), their drivers sharing one ConnectionPool as the runtime's do.
 */
export function describeSharedLine(target: ConformanceTarget, caseTimeout: { timeout: number }): void {
  const factory = target.sharedLine;
  if (!factory) {
    const reason =
      target.unsupported?.sharedLine ??
      'no sharedLine factory given: pass one that starts several devices on one connection (or, for a protocol without shared connections, say why in unsupported.sharedLine)';
    describe('devices sharing one line', () => {
      for (const name of CASES) it(name, (ctx) => ctx.skip(reason));
    });
    return;
  }
  const timeoutMs = target.timeoutMs ?? 500;
  const { call, connect, bound } = calls(timeoutMs);

  async function startLine(ctx: TestContext): Promise<{ line: SharedLine; members: Member[] }> {
    const line = await factory!();
    const pool = new ConnectionPool();
    const members = line.devices.map(({ device, config }) => ({
      device,
      config: { ...device.config, ...config },
      driver: newDriver(target.mapper, pool),
    }));
    ctx.onTestFinished(async () => {
      for (const m of members) {
        line.setSilent?.(m.device.name, false);
        await m.driver.close();
      }
      await line.stop();
    });
    expect(members.length, 'sharedLine() must put at least two devices on the line').toBeGreaterThanOrEqual(
      2,
    );
    for (const m of members) {
      const connected = await settled(m.driver.connect(m.config, connect()));
      expect(
        connected.ok ? undefined : describeError(connected.error),
        `${m.device.name}: connect(${show(m.config)}) on a line other devices use must join their connection`,
      ).toBeUndefined();
    }
    return { line, members };
  }

  const readableOf = (m: Member) =>
    m.device.properties.filter((p) => m.driver.readable?.(pointOf(p)) ?? true);

  async function expectReads(m: Member, what: string): Promise<void> {
    for (const property of readableOf(m)) {
      const result = await settled(m.driver.read(pointOf(property), call()));
      const problem = readingProblem(property, result.ok ? result.value : (result.error as Error));
      expect(problem, `${m.device.name} ${what}: ${problem}`).toBeUndefined();
    }
  }

  async function expectHolds(m: Member, property: ResolvedProperty, value: TwinValue, why: string) {
    const read = await m.driver.read(pointOf(property), call());
    expect(
      twinText(property, read.value),
      `${m.device.name}.${property.name}: expected ${show(value)}, read ${show(read.value)}; ${why}`,
    ).toBe(twinText(property, value));
  }

  /** Writable, readable properties every device on the line has (by name). */
  const common = (members: Member[]) =>
    writableOf(members[0]!.device)
      .filter((p) => members[0]!.driver.readable?.(pointOf(p)) ?? true)
      .filter((p) => members.every((m) => m.device.properties.some((q) => q.name === p.name)));
  const propertyOf = (m: Member, name: string) => m.device.properties.find((p) => p.name === name)!;

  describe('devices sharing one line', () => {
    it(CASES[0], caseTimeout, async (ctx) => {
      const { line, members } = await startLine(ctx);
      for (const m of members) await expectReads(m, 'on a shared line');
      const set = line.set?.bind(line);
      if (set) {
        const props = readableOf(members[0]!).filter((p) => p.model.type !== 'STRING');
        for (const [i, m] of members.entries())
          for (const p of props) set(m.device.name, p.name, valueFor(p, i));
        for (const [i, m] of members.entries())
          for (const p of props) await expectHolds(m, propertyOf(m, p.name), valueFor(p, i), OWN_ADDRESS);
      } else {
        const shared = common(members);
        if (shared.length === 0)
          ctx.skip(
            'every device read, but not whose value it read: the line has no set() and no property writable on every device',
          );
        for (const p of shared)
          for (const [i, m] of members.entries())
            await m.driver.write(pointOf(propertyOf(m, p.name)), valueFor(p, i), call());
        for (const p of shared)
          for (const [i, m] of members.entries())
            await expectHolds(m, propertyOf(m, p.name), valueFor(p, i), OWN_ADDRESS);
      }
    });

    it(CASES[1], caseTimeout, async (ctx) => {
      const { members } = await startLine(ctx);
      const shared = common(members);
      if (shared.length === 0) ctx.skip('no property is writable (and readable) on every device of the line');
      for (const p of shared) {
        const before = defaultWriteValue(p);
        for (const m of members) await m.driver.write(pointOf(propertyOf(m, p.name)), before, call());
        const [target0, ...others] = members;
        const after = otherValue(p, before);
        await target0!.driver.write(pointOf(propertyOf(target0!, p.name)), after, call());
        await expectHolds(
          target0!,
          propertyOf(target0!, p.name),
          after,
          'the write must reach the device it was sent to',
        );
        for (const m of others)
          await expectHolds(
            m,
            propertyOf(m, p.name),
            before,
            `${show(after)} was written to ${target0!.device.name} only: a write must carry its own device's address`,
          );
      }
    });

    it(CASES[2], caseTimeout, async (ctx) => {
      const { line, members } = await startLine(ctx);
      const [stopping, ...others] = members as [Member, ...Member[]];
      const probe = readableOf(stopping)[0];
      if (line.setSilent && probe) {
        line.setSilent(stopping.device.name, true);
        const silent = await settled(
          within(
            stopping.driver.read(
              pointOf(probe),
              openCall(timeoutMs, (f) => ctx.onTestFinished(f)),
            ),
            bound,
            `still waiting ${bound} ms for silent ${stopping.device.name}; the driver must give up after call.timeoutMs`,
          ),
        );
        expect(
          silent.ok ? `a reading ${show(silent.value)}` : describeError(silent.error),
          `${stopping.device.name}.${probe.name}: a silent device on a shared line must time out with PROTOCOL_TIMEOUT`,
        ).toMatch(/^PROTOCOL_TIMEOUT/);
        for (const m of others)
          await expectReads(m, `while ${stopping.device.name} is silent on the same line`);
        line.setSilent(stopping.device.name, false);
      }
      await stopping.driver.close();
      for (const m of others)
        await expectReads(
          m,
          `after ${stopping.device.name} closed its driver (the line must stay open for the others)`,
        );
      if (probe) {
        const closed = await settled(stopping.driver.read(pointOf(probe), call()));
        expect(
          closed.ok ? `a reading ${show(closed.value)}` : describeError(closed.error),
          `${stopping.device.name}: read after close() must reject with DEVICE_UNAVAILABLE even though the line is still open`,
        ).toMatch(/^DEVICE_UNAVAILABLE/);
      }
    });
  });
}
