import fc from 'fast-check';
import { parseAllDocuments } from 'yaml';
import { deviceYaml } from '../faults/edge-process.js';

/**
 * fast-check generators for what the edge takes from outside: `$hw/events` payloads and topics, hub messages,
 * HTTP requests and device YAML. Each mixes well-formed input (so the deep paths run) with adversarial input:
 * deep nesting, huge strings, wrong types, NUL and empty topic levels, unicode, numbers as strings.
 */

/** The fuzzed device (a protocol of its own: no mapper runs) and its properties. */
export const FUZZ_DEVICE = 'fuzz-01';
export const FUZZ_ID = `default/${FUZZ_DEVICE}`;
export const PROPERTIES = ['target', 'reading', 'level', 'enabled'] as const;

/** `[[[…]]]` nested `depth` deep, as text (JSON.stringify of such an object would itself overflow). */
export const deepArrayText = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
/** `{"a":{"a":…}}` nested `depth` deep, as text. */
export const deepObjectText = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

/** Strings that break naive code: unicode of every plane, NUL, control characters, lone surrogates. */
export const nastyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    'a\u0000b',
    '\ud800',
    '\udfff\ud800',
    '🙂',
    'ｓｅｔｐｏｉｎｔ',
    '\u202eevil',
    '__proto__',
    'constructor',
    'toString',
    '../../etc/passwd',
    '%00',
    '%',
    '+',
    '#',
    '$',
    'NaN',
    'Infinity',
    '-0',
    '1e309',
    '0x10',
    ' 23 ',
    'true',
    'TRUE',
    'null',
  ),
  fc.integer().map(String),
  fc.double().map(String),
);

/** A long string: past KubeEdge's 512 characters, past the EventBus's 64 KiB now and then. */
export const hugeString = fc
  .constantFrom(513, 4096, 70_000)
  .chain((n) => fc.constantFrom('x', 'é', '🙂', '\u0000').map((c) => c.repeat(n)));

/** Any JSON-ish value, with the adversarial ones weighted in. */
export const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: nastyString },
  { weight: 1, arbitrary: hugeString },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, 0, -1, 1.5, 2 ** 53, -(2 ** 63), [], {}) },
);

/** A twin value as KubeEdge sends it (a string), or something else in its place. */
const twinValue = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.oneof(
      fc.integer({ min: -5, max: 120 }).map(String),
      fc.constantFrom('true', 'false', 'on'),
    ),
  },
  { weight: 2, arbitrary: nastyString },
  { weight: 1, arbitrary: anyValue },
);

const version = fc.oneof(
  fc.record({ cloud: fc.nat(5), edge: fc.nat(50) }),
  fc.record({ cloud: anyValue, edge: anyValue }, { requiredKeys: [] }),
  anyValue,
);

const valueObject = fc.oneof(
  { weight: 5, arbitrary: fc.record({ value: twinValue }) },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        value: twinValue,
        metadata: fc.oneof(
          fc.constant(null),
          fc.record(
            { timestamp: fc.oneof(fc.nat(), fc.integer(), fc.string(), fc.double()), reason: anyValue },
            { requiredKeys: [] },
          ),
          anyValue,
        ),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: anyValue },
);

/** One MsgTwin, from well-formed to nonsense. */
export const msgTwin: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ expected: valueObject }) },
  { weight: 6, arbitrary: fc.record({ actual: valueObject }) },
  {
    weight: 3,
    arbitrary: fc.record(
      {
        expected: fc.oneof(valueObject, fc.constant(null)),
        actual: fc.oneof(valueObject, fc.constant(null)),
        optional: fc.oneof(fc.boolean(), fc.constant(null), anyValue),
        metadata: fc.oneof(
          fc.record({
            type: fc.oneof(
              fc.constantFrom('string', 'int', 'integer', 'float', 'boolean', 'deleted', 'double', 'bytes'),
              nastyString,
            ),
          }),
          fc.record({ type: anyValue, modelType: anyValue }, { requiredKeys: [] }),
          fc.constant(null),
        ),
        expected_version: version,
        actual_version: version,
        if_expected_version: version,
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: anyValue },
);

/** Twin keys: the device's properties mostly, and keys no twin may have. */
const twinKey = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...PROPERTIES) },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-zA-Z0-9\-_.,:/@#]{1,20}$/) },
  { weight: 2, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.constantFrom('x'.repeat(129), '__proto__', 'constructor', 'a b') },
);

export const msgTwinMap: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: fc.dictionary(twinKey, msgTwin, { minKeys: 1, maxKeys: 4 }) },
  { weight: 1, arbitrary: fc.constant({}) },
  { weight: 1, arbitrary: anyValue },
);

const eventId = fc.oneof(
  { weight: 4, arbitrary: fc.uuid() },
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: anyValue },
);
const timestamp = fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.string(), fc.constant(null));

/** Every payload starts with these, when it has them at all. */
const base = fc.record({ event_id: eventId, timestamp }, { requiredKeys: [] });

export const twinUpdatePayload = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(base, msgTwinMap).map(([b, twin]) => ({ ...b, twin })) },
  { weight: 1, arbitrary: base },
  { weight: 1, arbitrary: anyValue },
);
export const stateUpdatePayload = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(
        base,
        fc.oneof(
          fc.constantFrom('online', 'offline', 'ok', 'unknown', 'unhealthy', 'disconnected', 'OK', 'Online'),
          nastyString,
          anyValue,
        ),
      )
      .map(([b, state]) => ({ ...b, state })),
  },
  { weight: 1, arbitrary: anyValue },
);
export const getPayload = fc.oneof({ weight: 4, arbitrary: base }, { weight: 1, arbitrary: anyValue });

/** A payload as bytes: JSON of a generated value mostly, else text or bytes no JSON reader expects. */
export function encoded(payload: fc.Arbitrary<unknown>): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 10, arbitrary: payload.map((p) => Buffer.from(JSON.stringify(p) ?? 'null')) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: nastyString.map((s) => Buffer.from(s)) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(100, 5000, 30_000)
        .chain((d) =>
          fc.constantFrom(
            `{"twin":{"target":{"expected":{"value":"1","metadata":${deepArrayText(d)}}}}}`,
            `{"event_id":${deepObjectText(d)}}`,
            `{"twin":${deepArrayText(d)}}`,
            deepArrayText(d),
          ),
        )
        .map((t) => Buffer.from(t)),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('', '{', '{"twin":', 'null', '[]', '"x"', '1e999', '\u0000')
        .map((t) => Buffer.from(t)),
    },
  );
}

/** What the edge subscribes to under `$hw/events/device/{ns}/{name}/…`, and its answer topic's suffix. */
export const REQUEST_SUFFIXES = ['twin/update', 'twin/get', 'state/update'] as const;

/** A topic level: the known device's mostly, else an unknown, empty, unicode or otherwise odd one. */
const level = (known: string) =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constant(known) },
    { weight: 2, arbitrary: fc.stringMatching(/^[a-z0-9-]{1,12}$/) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', 'ünïcødé', '🙂', '%2F', 'a.b', '$x', 'x'.repeat(300)) },
    {
      weight: 1,
      arbitrary: fc
        .string({ unit: 'grapheme', minLength: 1, maxLength: 8 })
        .filter((s) => !/[+#/\0]/.test(s)),
    },
  );

/** A request on the EventBus: topic and payload bytes. */
export interface BusRequest {
  topic: string;
  payload: Buffer;
}

export const busRequest: fc.Arbitrary<BusRequest> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc
      .tuple(level('default'), level(FUZZ_DEVICE), fc.constantFrom(...REQUEST_SUFFIXES))
      .chain(([ns, name, suffix]) =>
        encoded(
          suffix === 'twin/update'
            ? twinUpdatePayload
            : suffix === 'state/update'
              ? stateUpdatePayload
              : getPayload,
        ).map((payload) => ({ topic: `$hw/events/device/${ns}/${name}/${suffix}`, payload })),
      ),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(level('edge-node-1'), encoded(getPayload))
      .map(([node, payload]) => ({ topic: `$hw/events/node/${node}/membership/get`, payload })),
  },
  {
    // Topics the edge does not answer, or that no device has: extra or missing levels, result topics, uploads.
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom(
          `$hw/events/device/${FUZZ_ID}/twin/update/result`,
          `$hw/events/device/${FUZZ_ID}/twin/update/delta`,
          `$hw/events/device/${FUZZ_ID}/twin/cloud_updated`,
          `$hw/events/device/default/x/${FUZZ_DEVICE}/twin/update`,
          `$hw/events/device/${FUZZ_DEVICE}/twin/update`,
          `$hw/events/device/${FUZZ_ID}/twin/update/`,
          `$hw/events/device/${FUZZ_ID}//twin/update`,
          `$hw/events/upload/${FUZZ_DEVICE}`,
          `$ke/events/device/${FUZZ_ID}/data/update`,
          '$hw/events/node//membership/get',
          '$hw/events/device///twin/update',
          `$hw/events/device/default/a\u0000b/twin/get`,
        ),
        encoded(twinUpdatePayload),
      )
      .map(([topic, payload]) => ({ topic, payload })),
  },
);

/** The topic a request is answered on, or undefined where the edge answers nothing (documented). */
export function answerTopic(topic: string): string | undefined {
  const device = /^\$hw\/events\/device\/([^/]+)\/([^/]+)\/(twin\/update|twin\/get|state\/update)$/.exec(
    topic,
  );
  if (device && !/[+#\0]/.test(device[1]! + device[2]!)) return `${topic}/result`;
  const node = /^\$hw\/events\/node\/([^/]+)\/membership\/get$/.exec(topic);
  if (node && !/[+#\0]/.test(node[1]!)) return `${topic}/result`;
  return undefined;
}

// ---- device YAML ------------------------------------------------------------------------------------------

/** The fuzzed device's DeviceModel and Device, as objects. */
export function fuzzDeviceObjects(name = FUZZ_DEVICE): Record<string, unknown>[] {
  return parseAllDocuments(deviceYaml(name)).map((d) => d.toJS() as Record<string, unknown>);
}

type Path = (string | number)[];

function paths(value: unknown, prefix: Path = []): Path[] {
  const out: Path[] = [prefix];
  if (Array.isArray(value)) for (const [i, v] of value.entries()) out.push(...paths(v, [...prefix, i]));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

function setAt(root: unknown, path: Path, replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path.at(-1)!] = replacement;
  return copy;
}

/** Values put in place of a field: other types, numbers as strings, unicode, nesting, nothing. */
const replacement: fc.Arbitrary<unknown> = fc.oneof(
  anyValue,
  fc.constantFrom(undefined, null, '502', 502, '0x1F', '-1', '1e3', 'InputRegister', 'ReadWrite', 'FLOAT'),
  fc.constant(JSON.parse(deepArrayText(200))),
);

/** A DeviceModel/Device pair with one to three fields replaced (or removed), as objects. */
export const mutatedObjects: fc.Arbitrary<unknown[]> = fc
  .array(fc.tuple(fc.nat(), fc.nat(), replacement), { minLength: 1, maxLength: 3 })
  .map((mutations) => {
    let objects: unknown[] = fuzzDeviceObjects();
    for (const [which, where, value] of mutations) {
      const index = which % objects.length;
      const all = paths(objects[index]);
      objects = objects.map((o, i) => (i === index ? setAt(o, all[where % all.length]!, value) : o));
    }
    return objects;
  });

/** YAML text a user might write, or an attacker: mutated samples, anchors, tags, nesting, garbage. */
export const deviceYamlText: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 6,
    arbitrary: mutatedObjects.map((objects) =>
      objects.map((o) => JSON.stringify(o) ?? 'null').join('\n---\n'),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.nat(), fc.string()).map(([at, s]) => {
      const text = deviceYaml(FUZZ_DEVICE);
      const i = at % text.length;
      return text.slice(0, i) + s + text.slice(i);
    }),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'a: &a [1,2]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n',
      '!!binary AAAA',
      'kind: !!js/function "function(){}"',
      'apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nkind: DeviceModel\n',
      `${'- '.repeat(500)}x`,
      `${'{'.repeat(300)}`,
      'kind: List\nitems: [1, null, "x", {kind: Device}]\n',
      'kind: DeviceList\nitems: {}\n',
      '---\n---\n---\n',
      '\u0000',
      '\ufeffkind: Device',
      'key: "\\ud800"',
      `metadata: {name: ${'x'.repeat(70_000)}}`,
      '<<: *undefined',
      '? [a, b]\n: c',
    ),
  },
);
