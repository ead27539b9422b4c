import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type MsgTwin,
  type MsgTwinMap,
  sameTwinValue,
  TWIN_REASON_MAX_LENGTH,
} from '../device-models/internal.js';
import { applyUpdate, computeDelta, deltaTwins, snapshot } from './rules.js';
import type { Applied, ApplyOptions, ApplyResult, DeviceTwins } from './types.js';

const NOW = 1_700_000_000_000;
const BEFORE = 1_600_000_000_000;
const EDGE: ApplyOptions = { source: 'edge', now: NOW };
const CLOUD: ApplyOptions = { source: 'cloud', now: NOW };

const ver = (cloud: number, edge: number) => ({ cloud, edge });
const val = (value: string, timestamp = BEFORE) => ({ value, metadata: { timestamp } });
/** A stored twin: optional, typed, values written BEFORE. */
const twin = (fields: MsgTwin = {}): MsgTwin => ({ optional: true, metadata: { type: 'string' }, ...fields });

/** A live twin `temp` (int) with expected 20 at {1,2} and actual 19 at {0,3}. */
const TEMP = twin({
  metadata: { type: 'int' },
  expected: val('20'),
  expected_version: ver(1, 2),
  actual: val('19'),
  actual_version: ver(0, 3),
});

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** Every call runs on frozen inputs: a rule that writes to them throws. */
function run(current: DeviceTwins, update: MsgTwinMap, options: ApplyOptions = EDGE): ApplyResult {
  return applyUpdate(deepFreeze(structuredClone(current)), deepFreeze(structuredClone(update)), options);
}

function ok(result: ApplyResult): Applied {
  if (!result.ok) throw new Error(`refused with ${result.code}: ${result.reason}`);
  return result;
}

describe('edge updates', () => {
  it('adds a new twin: versions start at {cloud: 0, edge: 1} for the parts that are set', () => {
    const applied = ok(run({}, { temp: { actual: { value: '21' }, metadata: { type: 'int' } } }));
    const added = {
      optional: true,
      metadata: { type: 'int' },
      actual: val('21', NOW),
      actual_version: ver(0, 1),
    };
    expect(applied.twins).toEqual({ temp: added });
    expect(applied.result).toEqual({ temp: added });
    expect(applied.document).toEqual({ temp: { last: null, current: added } });
    expect(applied.sync).toEqual({ temp: added });
    expect(applied.rejected).toEqual([]);
  });

  it.each([
    ['expected', { expected: { value: '22' } }, { expected: val('22', NOW), expected_version: ver(1, 3) }],
    ['actual', { actual: { value: '22' } }, { actual: val('22', NOW), actual_version: ver(0, 4) }],
    [
      'both',
      { expected: { value: '23' }, actual: { value: '22' } },
      {
        expected: val('23', NOW),
        expected_version: ver(1, 3),
        actual: val('22', NOW),
        actual_version: ver(0, 4),
      },
    ],
  ])('a changed %s bumps only its own edge counter and stamps now', (_, update: MsgTwin, changes) => {
    const applied = ok(run({ temp: TEMP }, { temp: update }));
    const after = { ...TEMP, ...changes };
    expect(applied.twins.temp).toEqual(after);
    expect(applied.result).toEqual({ temp: after });
    expect(applied.document).toEqual({ temp: { last: TEMP, current: after } });
    expect(applied.sync).toEqual({ temp: after });
  });

  it('writes the same value again as KubeEdge does (isTwinValueDiff only validates): bump, new timestamp', () => {
    const applied = ok(run({ temp: TEMP }, { temp: { actual: { value: '19' } } }));
    expect(applied.twins.temp).toEqual({ ...TEMP, actual: val('19', NOW), actual_version: ver(0, 4) });
    expect(Object.keys(applied.result)).toEqual(['temp']);
    expect(Object.keys(applied.sync)).toEqual(['temp']);
    // Only the timestamp and version moved: the document has nothing to show.
    expect(applied.document).toEqual({});
  });

  it.each<[string, MsgTwin]>([
    ['an empty twin', {}],
    ['null parts (a nil pointer in KubeEdge)', { expected: null, actual: null }],
    ['the same type and optional', { metadata: { type: 'int' }, optional: true }],
  ])('%s changes nothing', (_, update) => {
    const applied = ok(run({ temp: TEMP }, { temp: update }));
    expect(applied.twins).toEqual({ temp: TEMP });
    expect(applied).toMatchObject({ result: {}, document: {}, sync: {}, rejected: [] });
  });

  it('types a new twin `string` when the update names no type', () => {
    const applied = ok(run({}, { note: { expected: { value: 'hello world' } } }));
    expect(applied.twins.note?.metadata).toEqual({ type: 'string' });
  });
});

describe('cloud syncs', () => {
  it('takes the incoming value and versions when the cloud is up to date with the edge', () => {
    const update: MsgTwinMap = {
      temp: { expected: { value: '25' }, expected_version: ver(2, 2), metadata: { type: 'int' } },
    };
    const applied = ok(run({ temp: TEMP }, update, CLOUD));
    const after = { ...TEMP, expected: val('25', NOW), expected_version: ver(2, 2) };
    expect(applied.twins.temp).toEqual(after);
    expect(applied.result).toEqual({ temp: after });
    expect(applied.document).toEqual({ temp: { last: TEMP, current: after } });
    expect(applied.sync).toEqual({});
    expect(applied.rejected).toEqual([]);
  });

  it('adds a twin the edge does not have yet, with the cloud’s versions', () => {
    const update: MsgTwinMap = {
      mode: { expected: { value: 'eco' }, expected_version: ver(5, 0), optional: false },
    };
    const applied = ok(run({}, update, CLOUD));
    expect(applied.twins.mode).toEqual({
      optional: false,
      metadata: { type: 'string' },
      expected: val('eco', NOW),
      expected_version: ver(5, 0),
    });
  });

  it.each<[string, MsgTwin]>([
    ['expected, the local edge counter ahead', { expected: { value: '25' }, expected_version: ver(1, 1) }],
    ['expected, the local cloud counter ahead', { expected: { value: '25' }, expected_version: ver(0, 2) }],
    ['expected, no version (counts as {0, 0})', { expected: { value: '25' } }],
    ['actual, the local edge counter ahead', { actual: { value: '25' }, actual_version: ver(1, 2) }],
    ['actual, the local cloud counter ahead', { actual: { value: '25' }, actual_version: ver(0, 3) }],
  ])('rejects %s: the edge keeps its value and sends its state back', (_, incoming) => {
    // expected at {1, 2}, actual at {1, 3}
    const local = { temp: { ...TEMP, actual_version: ver(1, 3) }, other: twin({ actual: val('x') }) };
    const applied = ok(run(local, { temp: incoming }, CLOUD));
    expect(applied.twins).toEqual(local);
    expect(applied.rejected).toEqual(['temp']);
    expect(applied.sync).toEqual({ temp: local.temp });
    expect(applied).toMatchObject({ result: {}, document: {} });
  });

  it('takes an accepted part and rejects the other (and then leaves optional alone)', () => {
    const incoming = {
      expected: { value: '30' },
      expected_version: ver(3, 2),
      actual: { value: '1' },
      actual_version: ver(0, 0),
      optional: false,
    };
    const applied = ok(run({ temp: TEMP }, { temp: incoming }, CLOUD));
    const after = { ...TEMP, expected: val('30', NOW), expected_version: ver(3, 2) };
    expect(applied.twins.temp).toEqual(after);
    expect(applied.rejected).toEqual(['temp']);
    expect(applied.sync).toEqual({ temp: after });
  });
});

describe('versions on an edge update', () => {
  it.each([
    ['a stale expected_version', { expected_version: ver(0, 0) }],
    ['a newer expected_version', { expected_version: ver(9, 9) }],
    [
      'both versions, as a KubeEdge app echoing a twin/get/result',
      { expected_version: ver(1, 1), actual_version: ver(5, 5) },
    ],
  ])('ignores %s, as KubeEdge does: the edge bumps its own counter', (_, versions) => {
    const applied = ok(run({ temp: TEMP }, { temp: { expected: { value: '30' }, ...versions } }));
    expect(applied.twins.temp).toEqual({ ...TEMP, expected: val('30', NOW), expected_version: ver(1, 3) });
  });
});

describe('an opt-in if_expected_version on an edge update (beyond KubeEdge, as AWS IoT shadows)', () => {
  it.each([
    ['edge', ver(1, 1)],
    ['cloud', ver(0, 2)],
  ])('refuses the whole update with 409 when the base differs in %s', (_, base) => {
    const update: MsgTwinMap = {
      temp: { expected: { value: '30' }, if_expected_version: base },
      other: { actual: { value: 'x' } },
    };
    const result = run({ temp: TEMP }, update);
    expect(result).toEqual({ ok: false, code: 409, reason: expect.stringContaining('property "temp"') });
  });

  it('applies the update when the base is the current version, bumps it, and keeps no trace of the condition', () => {
    const applied = ok(
      run({ temp: TEMP }, { temp: { expected: { value: '30' }, if_expected_version: ver(1, 2) } }),
    );
    expect(applied.twins.temp).toEqual({ ...TEMP, expected: val('30', NOW), expected_version: ver(1, 3) });
    expect(applied.result.temp).not.toHaveProperty('if_expected_version');
  });

  it.each([
    [ver(0, 0), true],
    [ver(0, 1), false],
  ])('a new twin’s base version is {0, 0}: base %o accepted: %s', (base, accepted) => {
    const result = run({}, { temp: { expected: { value: '1' }, if_expected_version: base } });
    expect(result.ok ? 'ok' : result.code).toBe(accepted ? 'ok' : 409);
  });

  it('ignores it on cloud syncs (they carry the cloud’s own versions)', () => {
    const update: MsgTwinMap = {
      temp: { expected: { value: '30' }, expected_version: ver(4, 2), if_expected_version: ver(0, 0) },
    };
    expect(ok(run({ temp: TEMP }, update, CLOUD)).twins.temp?.expected_version).toEqual(ver(4, 2));
  });
});

describe('deletes', () => {
  const DELETED_TEMP: MsgTwin = {
    optional: true,
    metadata: { type: 'deleted' },
    expected_version: ver(1, 3),
    actual_version: ver(0, 4),
  };

  it('null from the edge soft-deletes an optional twin and bumps its versions', () => {
    const applied = ok(run({ temp: TEMP, other: twin() }, { temp: null }));
    expect(applied.twins).toEqual({ temp: DELETED_TEMP, other: twin() });
    expect(applied.result).toEqual({ temp: null });
    expect(applied.document).toEqual({ temp: { last: TEMP, current: null } });
    expect(applied.sync).toEqual({ temp: DELETED_TEMP });
    expect(applied.delta).toEqual({});
    expect(snapshot(applied.twins)).toEqual({ other: twin() });
  });

  it('type deleted from the cloud soft-deletes with the cloud’s versions', () => {
    const update: MsgTwinMap = {
      temp: { metadata: { type: 'deleted' }, expected_version: ver(2, 2), actual_version: ver(0, 3) },
    };
    const applied = ok(run({ temp: TEMP }, update, CLOUD));
    const after = { ...DELETED_TEMP, expected_version: ver(2, 2), actual_version: ver(0, 3) };
    expect(applied.twins.temp).toEqual(after);
    expect(applied.result).toEqual({ temp: null });
    expect(applied.document).toEqual({ temp: { last: TEMP, current: null } });
    expect(applied.sync).toEqual({});
  });

  it('a cloud delete without versions keeps the local ones (SyncTwinDeleteDealType)', () => {
    const applied = ok(run({ temp: TEMP }, { temp: { metadata: { type: 'deleted' } } }, CLOUD));
    expect(applied.twins.temp).toEqual({
      ...DELETED_TEMP,
      expected_version: ver(1, 2),
      actual_version: ver(0, 3),
    });
  });

  it('a cloud delete of a non-optional twin applies (cloudcore creates its twins non-optional)', () => {
    const update: MsgTwinMap = { temp: { metadata: { type: 'deleted' }, expected_version: ver(1, 2) } };
    const applied = ok(run({ temp: { ...TEMP, optional: false } }, update, CLOUD));
    expect(applied.twins.temp?.metadata?.type).toBe('deleted');
  });

  it('rejects a cloud delete when the edge holds a newer version', () => {
    const update: MsgTwinMap = { temp: { metadata: { type: 'deleted' }, expected_version: ver(1, 1) } };
    const applied = ok(run({ temp: TEMP }, update, CLOUD));
    expect(applied.twins.temp).toEqual(TEMP);
    expect(applied.rejected).toEqual(['temp']);
    expect(applied.sync).toEqual({ temp: TEMP });
  });

  it('refuses to delete a non-optional twin from the edge with 400', () => {
    const result = run({ temp: { ...TEMP, optional: false } }, { temp: null });
    expect(result).toEqual({ ok: false, code: 400, reason: expect.stringContaining('property "temp"') });
  });

  it.each<[string, DeviceTwins, MsgTwinMap, ApplyOptions]>([
    ['from the edge, a twin that does not exist', {}, { temp: null }, EDGE],
    ['from the cloud, a twin that does not exist', {}, { temp: { metadata: { type: 'deleted' } } }, CLOUD],
    ['from the edge, a deleted twin', { temp: DELETED_TEMP }, { temp: null }, EDGE],
    [
      'from the cloud, a deleted twin',
      { temp: DELETED_TEMP },
      { temp: { metadata: { type: 'deleted' } } },
      CLOUD,
    ],
  ])('deleting %s is a no-op', (_, current, update, options) => {
    const applied = ok(run(current, update, options));
    expect(applied.twins).toEqual(current);
    expect(applied).toMatchObject({ result: {}, document: {}, sync: {}, rejected: [] });
  });

  it('an edge update revives a deleted twin with a new type; its versions carry on', () => {
    const update: MsgTwinMap = { temp: { actual: { value: 'true' }, metadata: { type: 'boolean' } } };
    const applied = ok(run({ temp: DELETED_TEMP }, update));
    const revived = {
      ...DELETED_TEMP,
      metadata: { type: 'boolean' },
      actual: val('true', NOW),
      actual_version: ver(0, 5),
    };
    expect(applied.twins.temp).toEqual(revived);
    expect(applied.document).toEqual({ temp: { last: null, current: revived } });
  });
});

describe('optional and metadata.type', () => {
  it.each<[string, MsgTwin, MsgTwin, boolean]>([
    ['true → false is applied', twin(), { optional: false }, false],
    ['false → true is ignored', twin({ optional: false }), { optional: true }, false],
  ])('optional %s', (_, current, update, optional) => {
    const applied = ok(run({ p: current }, { p: update }));
    expect(applied.twins.p?.optional).toBe(optional);
    expect(Object.keys(applied.result)).toEqual(current.optional === optional ? [] : ['p']);
  });

  it.each([EDGE, CLOUD])(
    'keeps a live twin’s type whatever an update names, as KubeEdge does ($source)',
    (options) => {
      for (const type of ['string', 'double', 'number', 'deleted', 'INT']) {
        const update: MsgTwinMap = {
          temp: { actual: { value: '1' }, actual_version: ver(0, 9), metadata: { type } },
        };
        if (options.source === 'cloud' && type === 'deleted') continue; // that is a cloud delete
        const applied = ok(run({ temp: TEMP }, update, options));
        expect(applied.twins.temp?.metadata, type).toEqual({ type: 'int' });
        expect(applied.twins.temp?.actual?.value, type).toBe('1');
      }
    },
  );

  it.each([EDGE, CLOUD])(
    'checks values against the live twin’s own type, not the named one ($source)',
    (options) => {
      const result = run(
        { temp: TEMP },
        { temp: { actual: { value: 'warm' }, actual_version: ver(0, 9), metadata: { type: 'string' } } },
        options,
      );
      expect(result).toEqual({
        ok: false,
        code: 400,
        reason: expect.stringMatching(/property "temp".*"warm" is not a 64-bit int/),
      });
    },
  );

  it.each<[string, string | undefined, MsgTwin['metadata']]>([
    ['int', 'int', { type: 'int' }],
    ['integer', 'integer', { type: 'integer' }],
    ['float', 'float', { type: 'float' }],
    ['boolean', 'boolean', { type: 'boolean' }],
    ['string', 'string', { type: 'string' }],
    ['no type (KubeEdge’s default)', undefined, { type: 'string' }],
    ['"" (KubeEdge’s default)', '', { type: 'string' }],
    ['double, an older edgetwin’s name', 'double', { type: 'float', modelType: 'DOUBLE' }],
    ['bytes, an older edgetwin’s name', 'bytes', { type: 'string', modelType: 'BYTES' }],
    ['stream, an older edgetwin’s name', 'stream', { type: 'string', modelType: 'STREAM' }],
  ])('types a new twin named %s in KubeEdge’s set', (_, type, metadata) => {
    const update: MsgTwinMap = { p: { metadata: type === undefined ? {} : { type } } };
    expect(ok(run({}, update)).twins.p?.metadata).toEqual(metadata);
  });

  it.each<[string, MsgTwin['metadata'], MsgTwin['metadata']]>([
    [
      'a finer model type that fits',
      { type: 'float', modelType: 'DOUBLE' },
      { type: 'float', modelType: 'DOUBLE' },
    ],
    ['a model type that does not fit', { type: 'int', modelType: 'DOUBLE' }, { type: 'int' }],
    ['a model type that adds nothing', { type: 'int', modelType: 'INT' }, { type: 'int' }],
    ['no model type it does not know', { type: 'float', modelType: 'QUAD' }, { type: 'float' }],
    [
      'other keys (KubeEdge’s TypeMetadata drops them)',
      JSON.parse('{"type": "int", "unit": "mm"}'),
      { type: 'int' },
    ],
  ])('keeps on a new twin %s', (_, metadata, kept) => {
    expect(ok(run({}, { p: { metadata } })).twins.p?.metadata).toEqual(kept);
  });
});

describe('validation: the whole update is refused with 400 naming the property', () => {
  it.each<[string, DeviceTwins, MsgTwinMap, string]>([
    ['a key with a space', {}, { 'bad key': { actual: { value: '1' } } }, 'bad key'],
    ['an empty key', {}, { '': { actual: { value: '1' } } }, ''],
    ['a key over 128 characters', {}, { ['k'.repeat(129)]: { actual: { value: '1' } } }, 'k'.repeat(129)],
    ['a value over 512 characters', {}, { p: { actual: { value: 'v'.repeat(513) } } }, 'p'],
    ['an unknown type', {}, { p: { actual: { value: '1' }, metadata: { type: 'number' } } }, 'p'],
    ['a model type in upper case', {}, { p: { actual: { value: '1' }, metadata: { type: 'INT' } } }, 'p'],
    ['a part without a value', {}, { p: { expected: {} } }, 'p'],
    ['a non-integer int', {}, { p: { actual: { value: '1.5' }, metadata: { type: 'int' } } }, 'p'],
    [
      'an int beyond int64',
      {},
      { p: { actual: { value: '9223372036854775808' }, metadata: { type: 'int' } } },
      'p',
    ],
    [
      'a float overflowing float64',
      {},
      { p: { actual: { value: '1e309' }, metadata: { type: 'float' } } },
      'p',
    ],
    ['text as integer', {}, { p: { actual: { value: 'abc' }, metadata: { type: 'integer' } } }, 'p'],
    ['text as float', {}, { p: { actual: { value: '1.2.3' }, metadata: { type: 'float' } } }, 'p'],
    ['text as double', {}, { p: { actual: { value: 'x' }, metadata: { type: 'double' } } }, 'p'],
    ['yes as boolean', {}, { p: { actual: { value: 'yes' }, metadata: { type: 'boolean' } } }, 'p'],
    [
      'TRUE as boolean (KubeEdge wants true or false)',
      {},
      { p: { actual: { value: 'TRUE' }, metadata: { type: 'boolean' } } },
      'p',
    ],
    ['a value against the stored type', { temp: TEMP }, { temp: { expected: { value: 'warm' } } }, 'temp'],
    [
      'one bad property among good ones',
      { temp: TEMP },
      { a: { actual: { value: 'ok' } }, temp: { actual: { value: 'hot' } } },
      'temp',
    ],
  ])('%s', (_, current, update, key) => {
    const result = run(current, update);
    expect(result).toEqual({ ok: false, code: 400, reason: expect.stringContaining(`property "${key}"`) });
  });

  it.each<[string, MsgTwinMap]>([
    ['an unknown type, even with no value', { p: { metadata: { type: 'number' } } }],
    ['type deleted from the edge', { p: { actual: { value: '1' }, metadata: { type: 'deleted' } } }],
  ])(
    'refuses on a new twin %s, where KubeEdge would store a type it then refuses every value of',
    (_, update) => {
      expect(run({}, update)).toMatchObject({ ok: false, code: 400 });
    },
  );

  it('refuses null from the cloud (it deletes with metadata.type deleted)', () => {
    expect(run({ temp: TEMP }, { temp: null }, CLOUD)).toMatchObject({ ok: false, code: 400 });
  });

  it('reports a 400 before a 409', () => {
    const update: MsgTwinMap = {
      temp: { expected: { value: '1' }, expected_version: ver(9, 9) },
      'bad key': {},
    };
    expect(run({ temp: TEMP }, update)).toMatchObject({ ok: false, code: 400 });
  });

  it.each([
    ['int', '-42'],
    ['int', '9007199254740993'],
    ['int', '-9223372036854775808'],
    ['integer', '+7'],
    ['float', '1e3'],
    ['float', '5.'],
    ['float', 'NaN'],
    ['float', '-Inf'],
    ['float', '0x1.8p1'],
    ['double', '-.5'],
    ['boolean', 'false'],
    ['string', 'any text, even with spaces'],
    ['', 'KubeEdge reads "" as string'],
    ['bytes', 'AAEC'],
    ['stream', 'rtsp://camera/1'],
  ])('accepts %s %s, as KubeEdge’s ValidateValue does', (type, value) => {
    const result = run({}, { p: { actual: { value }, metadata: { type } } });
    expect(result.ok).toBe(true);
  });

  it('accepts keys with every character KubeEdge allows, and keys Object.prototype also has', () => {
    const update: MsgTwinMap = JSON.parse('{"a-Z_0.9,:/@#": {}, "constructor": {}, "__proto__": {}}');
    const applied = ok(run({}, update));
    expect(Object.keys(applied.twins).sort()).toEqual(['__proto__', 'a-Z_0.9,:/@#', 'constructor']);
    expect(Object.getPrototypeOf(applied.twins)).toBe(Object.prototype);
    expect(applied.twins.constructor).toEqual({ optional: true, metadata: { type: 'string' } });
  });
});

describe('computeDelta, over all twins', () => {
  it.each<[string, MsgTwin, string | undefined]>([
    ['expected differs from actual', twin({ expected: val('1'), actual: val('2') }), '1'],
    ['expected with no actual', twin({ expected: val('1') }), '1'],
    ['expected equal to actual', twin({ expected: val('1'), actual: val('1') }), undefined],
    ['an empty expected value', twin({ expected: val(''), actual: val('2') }), undefined],
    ['only an actual value', twin({ actual: val('2') }), undefined],
    ['a deleted twin', { metadata: { type: 'deleted' }, expected_version: ver(0, 1) }, undefined],
  ])('%s', (_, t, expected) => {
    expect(computeDelta({ p: t })).toEqual(expected === undefined ? {} : { p: expected });
  });

  it.each<[string, string, string, boolean]>([
    ['float', '24', '24.0', false],
    ['float', '23.55', '23.5', true],
    ['double', '1e2', '100', false],
    ['int', '24', '24.0', false],
    ['integer', '+7', '7', false],
    ['int', '7', '8', true],
    ['boolean', 'true', '1', false],
    ['boolean', 'false', 'F', false],
    ['boolean', 'true', '0', true],
    ['string', '24', '24.0', true],
    ['string', 'on', 'on', false],
    ['float', 'n/a', 'n/a', false],
    ['float', '24', 'n/a', true],
  ])('compares by type: %s expected "%s", actual "%s" → delta %s', (type, expected, actual, pending) => {
    const t = { optional: true, metadata: { type }, expected: val(expected), actual: val(actual) } as MsgTwin;
    expect(computeDelta({ p: t })).toEqual(pending ? { p: expected } : {});
  });

  it('deltaTwins carries what KubeEdge’s BuildDeviceTwinDelta does: live twins with an expected value', () => {
    const twins: DeviceTwins = {
      pending: twin({ expected: val('on'), actual: val('off') }),
      held: twin({ expected: val('1'), actual: val('1') }),
      reportedOnly: twin({ actual: val('2') }),
      gone: { metadata: { type: 'deleted' }, expected_version: ver(0, 1) },
    };
    expect(deltaTwins(twins)).toEqual({ pending: twins.pending, held: twins.held });
  });

  it('applyUpdate reports the delta of twins the update did not touch', () => {
    const pending = twin({ expected: val('on'), actual: val('off') });
    const applied = ok(run({ pending, temp: TEMP }, { temp: { actual: { value: '20' } } }));
    expect(applied.delta).toEqual({ pending: 'on' });
  });
});

describe('a reason on an actual value (beyond KubeEdge)', () => {
  const report = (actual: MsgTwin['actual']) => ok(run({ temp: TEMP }, { temp: { actual } })).twins.temp;

  it('is kept in actual.metadata, beside the timestamp', () => {
    expect(report({ value: '19', metadata: { reason: 'the register holds tenths' } })?.actual).toEqual({
      value: '19',
      metadata: { timestamp: NOW, reason: 'the register holds tenths' },
    });
  });

  it('is cleared by the next actual without one', () => {
    const withReason = ok(
      run({ temp: TEMP }, { temp: { actual: { value: '19', metadata: { reason: 'clamped' } } } }),
    ).twins;
    const next = ok(run(withReason, { temp: { actual: { value: '20' } } })).twins.temp;
    expect(next?.actual).toEqual(val('20', NOW));
  });

  it.each<[string, unknown, string | undefined]>([
    ['a reason at the limit, whole', 'r'.repeat(TWIN_REASON_MAX_LENGTH), 'r'.repeat(TWIN_REASON_MAX_LENGTH)],
    ['a longer one, cut with an ellipsis', 'r'.repeat(5000), `${'r'.repeat(TWIN_REASON_MAX_LENGTH - 1)}…`],
    [
      'a cut through a surrogate pair, before it',
      `${'r'.repeat(TWIN_REASON_MAX_LENGTH - 2)}😀😀`,
      `${'r'.repeat(TWIN_REASON_MAX_LENGTH - 2)}…`,
    ],
    ['an empty one, dropped', '', undefined],
    ['a number, ignored (KubeEdge ignores the key)', 42, undefined],
    ['an object, ignored', { why: 'x' }, undefined],
  ])('%s', (_, reason, kept) => {
    const twin = report({ value: '19', metadata: { reason } });
    expect(twin?.actual?.metadata?.reason).toEqual(kept);
    if (typeof kept === 'string') expect(kept.length).toBeLessThanOrEqual(TWIN_REASON_MAX_LENGTH);
  });

  it('is not taken on an expected value', () => {
    const applied = ok(
      run({ temp: TEMP }, { temp: { expected: { value: '21', metadata: { reason: 'x' } } } }),
    );
    expect(applied.twins.temp?.expected).toEqual(val('21', NOW));
  });
});

describe('purity', () => {
  it('leaves its inputs as they were and shares nothing it changed', () => {
    const current = { temp: TEMP, other: twin({ expected: val('a') }) };
    const update: MsgTwinMap = {
      temp: { expected: { value: '30' }, optional: false },
      other: null,
      added: {},
    };
    const before = structuredClone({ current, update });
    const applied = ok(applyUpdate(deepFreeze(current), deepFreeze(update), EDGE));
    expect({ current, update }).toEqual(before);
    expect(applied.twins).not.toBe(current);
    expect(applied.twins.temp).not.toBe(current.temp);
  });

  it('gives the same answer for the same inputs', () => {
    const update: MsgTwinMap = { temp: { expected: { value: '30' } } };
    expect(run({ temp: TEMP }, update)).toEqual(run({ temp: TEMP }, update));
  });
});

describe('any sequence of valid edge updates (property)', () => {
  const TYPES = { i: 'int', b: 'boolean', s: 'string' } as const;
  const VALUES = { i: fc.integer().map(String), b: fc.boolean().map(String), s: fc.string({ maxLength: 8 }) };
  const key = fc.constantFrom(...(Object.keys(TYPES) as (keyof typeof TYPES)[]));
  const part = (k: keyof typeof TYPES) =>
    fc.option(
      VALUES[k].map((value) => ({ value })),
      { nil: undefined },
    );
  const change = key.chain((k) =>
    fc.tuple(
      fc.constant(k),
      fc.oneof(
        { weight: 1, arbitrary: fc.constant(null) },
        {
          weight: 5,
          arbitrary: fc.record(
            {
              expected: part(k),
              actual: part(k),
              optional: fc.boolean(),
              metadata: fc.constant({ type: TYPES[k] }),
            },
            { requiredKeys: ['metadata'] },
          ),
        },
      ),
    ),
  );
  const updates = fc.array(fc.uniqueArray(change, { selector: ([k]) => k, maxLength: 3 }), { maxLength: 25 });

  it('keeps every version monotonic and computeDelta consistent with expected/actual', () => {
    fc.assert(
      fc.property(updates, (steps) => {
        let twins: DeviceTwins = {};
        steps.forEach((entries, step) => {
          const update: MsgTwinMap = Object.fromEntries(entries);
          const result = applyUpdate(twins, update, { source: 'edge', now: NOW + step });
          if (!result.ok) {
            // the only refusal a valid update can meet: deleting a twin that was made non-optional
            expect(result.code).toBe(400);
            expect(entries.some(([k, t]) => t === null && twins[k]?.optional === false)).toBe(true);
            return;
          }
          for (const [k, before] of Object.entries(twins)) {
            const after = result.twins[k];
            for (const v of ['expected_version', 'actual_version'] as const) {
              const [was, now] = [before[v], after?.[v]];
              if (!was) continue;
              expect(now?.cloud).toBe(was.cloud);
              expect(now?.edge).toBeGreaterThanOrEqual(was.edge);
            }
          }
          for (const [k, t] of entries)
            if (t?.expected)
              expect(result.twins[k]?.expected_version?.edge).toBe(
                (twins[k]?.expected_version?.edge ?? 0) + 1,
              );
          twins = result.twins;
          expect(result.delta).toEqual(computeDelta(twins));
          for (const [k, t] of Object.entries(twins)) {
            const expected = t.expected?.value;
            const pending =
              t.metadata?.type !== 'deleted' &&
              !!expected &&
              !sameTwinValue(t.metadata?.type, expected, t.actual?.value ?? '');
            expect(result.delta[k]).toBe(pending ? expected : undefined);
            if (t.metadata?.type === 'deleted') expect(t.expected ?? t.actual).toBeUndefined();
          }
        });
      }),
    );
  });
});
