import { describe, expect, it, type TestContext } from 'vitest';
import type { PropertyType, ResolvedProperty, TwinValue } from '../../device-models/index.js';
import type { ConformanceTarget, TypedWrite, TypedWrites } from './conformance.js';
import {
  type AnyDriver,
  calls,
  codeOf,
  describeError,
  newDriver,
  pointOf,
  settled,
  show,
  twinText,
} from './conformance-support.js';

/** The model types a driver is expected to write, each reported as exercised or skipped with a reason. */
const TYPES: PropertyType[] = ['INT', 'FLOAT', 'DOUBLE', 'BOOLEAN', 'STRING'];

/**
 * The typed-write cases: for every property of `typedWrites.device`, a value of its type written and read back
 * equal after the property's codec (what the twin would show); a value it cannot hold exactly, with what the
 * driver does about it asserted explicitly; values it cannot hold at all refused with VALUE_OUT_OF_RANGE.
 */
export function describeTypedWrites(target: ConformanceTarget, caseTimeout: { timeout: number }): void {
  const typed = target.typedWrites;
  describe('typed writes', () => {
    if (!typed) {
      const reason =
        target.unsupported?.typedWrites ??
        'no typedWrites given: pass a device with one writable property per type and encoding, and the values to write';
      it('writes a value of each property type and reads it back equal', (ctx) => ctx.skip(reason));
      return;
    }
    const propertyOf = (w: TypedWrite): ResolvedProperty => {
      const p = typed.device.properties.find((q) => q.name === w.property);
      if (!p) throw new Error(`typedWrites names ${w.property}, which ${typed.device.id} does not have`);
      return p;
    };
    const covered = new Set(typed.writes.map((w) => propertyOf(w).model.type));
    for (const type of TYPES.filter((t) => !covered.has(t)))
      it(`${type}: a value written reads back equal`, (ctx) =>
        ctx.skip(typed.unsupportedTypes?.[type] ?? `no typedWrites entry writes a ${type} property`));
    for (const w of typed.writes) describeTypedWrite(target, typed, w, propertyOf(w), caseTimeout);
  });
}

function describeTypedWrite(
  target: ConformanceTarget,
  typed: TypedWrites,
  w: TypedWrite,
  property: ResolvedProperty,
  caseTimeout: { timeout: number },
): void {
  const { call, connect } = calls(target.timeoutMs ?? 500);
  const label = `${property.model.type} ${property.name}`;
  const point = pointOf(property);

  async function connected(ctx: TestContext): Promise<AnyDriver> {
    const simulator = await typed.startSimulator();
    const driver = newDriver(target.mapper);
    ctx.onTestFinished(async () => {
      await driver.close();
      await simulator.stop();
    });
    await driver.connect({ ...typed.device.config, ...simulator.config }, connect());
    return driver;
  }

  async function write(driver: AnyDriver, value: TwinValue): Promise<void> {
    const result = await settled(driver.write(point, value, call()));
    expect(
      result.ok ? undefined : describeError(result.error),
      `write(${property.name}, ${show(value)}): a ${property.model.type} value the device holds must be written`,
    ).toBeUndefined();
  }

  async function expectHolds(driver: AnyDriver, value: TwinValue, why: string): Promise<void> {
    const read = await driver.read(point, call());
    expect(
      twinText(property, read.value),
      `${property.name}: read back ${show(read.value)} (twin "${twinText(property, read.value)}"), expected "${twinText(property, value)}"; ${why}`,
    ).toBe(twinText(property, value));
  }

  it(`${label}: ${show(w.value)} reads back equal after the codec`, caseTimeout, async (ctx) => {
    const driver = await connected(ctx);
    await write(driver, w.value);
    await expectHolds(
      driver,
      w.value,
      `wrote ${show(w.value)}: encode and decode must be inverse for this type`,
    );
  });

  const inexact = w.inexact;
  if (inexact && 'holds' in inexact)
    it(
      `${label}: ${show(inexact.value)}, which it cannot hold exactly, reads back ${show(inexact.holds)}`,
      caseTimeout,
      async (ctx) => {
        const driver = await connected(ctx);
        await write(driver, inexact.value);
        await expectHolds(
          driver,
          inexact.holds,
          `wrote ${show(inexact.value)}, which the device cannot hold exactly: the documented rounding gives ${show(inexact.holds)}`,
        );
      },
    );
  else if (inexact)
    it(
      `${label}: ${show(inexact.value)}, which it cannot hold exactly, is refused with ${inexact.refused}`,
      caseTimeout,
      async (ctx) => {
        const driver = await connected(ctx);
        const result = await settled(driver.write(point, inexact.value, call()));
        expect(
          result.ok ? 'nothing (the write succeeded)' : codeOf(result.error),
          `write(${property.name}, ${show(inexact.value)}): the device cannot hold it exactly, and this driver documents a refusal with ${inexact.refused}; got ${result.ok ? 'success' : describeError(result.error)}`,
        ).toBe(inexact.refused);
      },
    );
  else
    it(`${label}: a value it cannot hold exactly`, (ctx) =>
      ctx.skip(`no inexact value given for ${property.name}: every value of its type is held exactly`));

  const refuses = w.refuses ?? [];
  if (refuses.length === 0)
    it(`${label}: values it cannot hold are refused`, (ctx) =>
      ctx.skip(
        `no value ${property.name} cannot hold was given (typedWrites.writes[].refuses): the protocol takes any ${property.model.type}`,
      ));
  else
    it(
      `${label}: refuses ${refuses.map(show).join(', ')} with VALUE_OUT_OF_RANGE, before anything is sent`,
      caseTimeout,
      async (ctx) => {
        const driver = await connected(ctx);
        await write(driver, w.value);
        for (const bad of refuses) {
          const result = await settled(driver.write(point, bad, call()));
          const error = result.ok ? undefined : result.error;
          expect(
            codeOf(error),
            `write(${property.name}, ${show(bad)}): the device cannot hold it, so the driver must throw ValueOutOfRange (VALUE_OUT_OF_RANGE); got ${describeError(error)}`,
          ).toBe('VALUE_OUT_OF_RANGE');
          expect(
            String((error as Error).message),
            `write(${property.name}, ${show(bad)}): the error must name the value refused`,
          ).toContain(String(bad));
          await expectHolds(
            driver,
            w.value,
            `a refused write of ${show(bad)} must send nothing: the device keeps ${show(w.value)}`,
          );
        }
      },
    );
}
