import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeCore } from '../../edgecore/edgecore.js';
import { anyValue, FUZZ_DEVICE, FUZZ_ID, hugeString, nastyString, PROPERTIES } from './arbitraries.js';
import { type FuzzEdge, startFuzzEdge } from './fuzz-edge.js';
import { fuzzParams, fuzzTimeout } from './fuzz-params.js';

/**
 * The edge HTTP API fuzzed with raw requests over TCP (so that request targets, headers and bodies can be
 * anything a client can send): every request is answered within ANSWER_MS with a status below 500 (503 only
 * when the store cannot write, never here), and afterwards a normal PUT and GET still work.
 */

const ANSWER_MS = 2000;

interface RawRequest {
  method: string;
  target: string;
  headers: [string, string][];
  body: Buffer;
}

const segment = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      'api',
      'v1',
      'devices',
      'default',
      FUZZ_DEVICE,
      'twins',
      'desired',
      ...PROPERTIES,
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      '.',
      '..',
      '%',
      '%2',
      '%ZZ',
      '%00',
      '%2F',
      '%E0%A4%A',
      '%C0%AF',
      '%F0%9F%99%82',
      '%25',
    ),
  },
  { weight: 2, arbitrary: nastyString.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '?'))) },
  { weight: 1, arbitrary: fc.string({ maxLength: 10 }).filter((s) => !/[\r\n]/.test(s)) },
);

/** A request target: the API's own paths with segments changed, and forms a parser may trip on. */
const target = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(
        fc.constantFrom(
          ['api', 'v1', 'devices'],
          ['api', 'v1', 'devices', 'default', FUZZ_DEVICE],
          ['api', 'v1', 'devices', 'default', FUZZ_DEVICE, 'twins', 'target', 'desired'],
          ['api', 'v1', 'devices', 'default', FUZZ_DEVICE, 'twins', 'level', 'desired'],
          ['healthz'],
          ['metrics'],
        ),
        fc.array(fc.tuple(fc.nat(), segment), { maxLength: 2 }),
        fc.constantFrom('', '?', '?a=1&a=2', '#x', '/', '?%zz'),
      )
      .map(([parts, changes, tail]) => {
        const copy: string[] = [...parts];
        for (const [at, s] of changes) copy[at % (copy.length + 1)] = s;
        return `/${copy.join('/')}${tail}`;
      }),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '*',
      '//',
      '//api/v1/devices',
      'http://127.0.0.1/api/v1/devices',
      'http://[',
      'api/v1/devices',
      '/api/v1/devices/%E0%A4%A/x',
      `/api/v1/devices/default/${FUZZ_DEVICE}/twins/%ZZ/desired`,
      `/${'a/'.repeat(2000)}`,
      `/${'x'.repeat(9000)}`,
      '/\u00e9',
    ),
  },
);

const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/x-www-form-urlencoded',
  'JSON',
  '',
  'application/json\u00ff',
);

const jsonBody = fc.oneof(
  fc.record({ value: fc.oneof(fc.integer({ min: -5, max: 120 }).map(String), nastyString, anyValue) }),
  anyValue,
);

const body = fc.oneof(
  { weight: 6, arbitrary: jsonBody.map((v) => Buffer.from(JSON.stringify(v) ?? '')) },
  { weight: 2, arbitrary: nastyString.map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: hugeString.map((s) => Buffer.from(`{"value":"${s}"}`)) },
  { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
);

const request: fc.Arbitrary<RawRequest> = fc.record({
  method: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('GET', 'PUT') },
    {
      weight: 1,
      arbitrary: fc.constantFrom('POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'BREW', 'get'),
    },
  ),
  target,
  headers: fc.array(
    fc.oneof(
      contentType.map((v): [string, string] => ['Content-Type', v]),
      fc
        .oneof(
          fc.constantFrom('"0.1"', '"0.0"', 'W/"1.2"', '*', '"a.b"', '"99999999999999999999.1"', ''),
          fc.string({ maxLength: 12 }),
        )
        .map((v): [string, string] => ['If-Match', v.replace(/[\r\n]/g, '')]),
      fc.constantFrom<[string, string]>(
        ['Transfer-Encoding', 'chunked'],
        ['Expect', '100-continue'],
        ['X-\u00e9', 'x'],
      ),
    ),
    { maxLength: 3 },
  ),
  body,
});

/** Sends a raw request; resolves with the status of the answer (0 when the connection closed without one). */
function send(port: number, r: RawRequest): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${ANSWER_MS} ms to ${r.method} ${r.target.slice(0, 100)}`));
    }, ANSWER_MS);
    // The final status: a `100 Continue` (Expect: 100-continue) comes first and is skipped.
    const final = () => /(?:^|\r\n)HTTP\/1\.[01] ([2-5]\d\d)/.exec(text);
    const done = () => {
      clearTimeout(timer);
      const status = final();
      resolve(status ? Number(status[1]) : 0);
    };
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (final()) {
        socket.destroy();
        done();
      }
    });
    socket.on('error', done);
    socket.on('close', done);
    const chunked = r.headers.some(([k, v]) => k === 'Transfer-Encoding' && v === 'chunked');
    const head = [
      `${r.method} ${r.target} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      ...r.headers.map(([k, v]) => `${k}: ${v}`),
      ...(chunked ? [] : [`Content-Length: ${r.body.length}`]),
      'Connection: close',
      '',
      '',
    ].join('\r\n');
    const payload = chunked
      ? Buffer.concat([
          Buffer.from(`${r.body.length.toString(16)}\r\n`),
          r.body,
          Buffer.from('\r\n0\r\n\r\n'),
        ])
      : r.body;
    socket.write(Buffer.concat([Buffer.from(head, 'latin1'), payload]), () => {});
  });
}

describe('fuzzing the edge HTTP API', () => {
  let fuzzEdge: FuzzEdge | undefined;
  let edge: EdgeCore;
  let port: number;
  const statuses = new Map<number, number>();

  beforeAll(async () => {
    fuzzEdge = await startFuzzEdge('fuzz-http-');
    ({ edge } = fuzzEdge);
    port = Number(new URL(edge.httpUrl).port);
  }, 30_000);
  afterAll(async () => {
    await fuzzEdge?.stop();
  });

  it(
    'answers every request with a status below 500, in time, and still serves a normal one',
    async () => {
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          const status = await send(port, r);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          // 0: the server closed without a status line; only acceptable for a request it could not read.
          expect(status, `${r.method} ${r.target.slice(0, 200)}`).toBeGreaterThanOrEqual(
            status === 0 ? 0 : 100,
          );
          expect(
            status,
            `${r.method} ${r.target.slice(0, 200)} ${r.body.subarray(0, 100).toString()}`,
          ).toBeLessThan(500);
        }),
        fuzzParams(200),
      );
      const put = await fetch(`${edge.httpUrl}/api/v1/devices/${FUZZ_ID}/twins/level/desired`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ value: '55' }),
      });
      expect(put.status).toBe(200);
      const view = (await (await fetch(`${edge.httpUrl}/api/v1/devices/${FUZZ_ID}`)).json()) as {
        twins: Record<string, { desired: { value: string } | null }>;
      };
      expect(view.twins.level?.desired?.value).toBe('55');
      expect((await fetch(`${edge.httpUrl}/healthz`)).status).toBe(200);
      if (process.env.FUZZ_DEBUG) console.log(Object.fromEntries(statuses));
    },
    fuzzTimeout(60_000),
  );
});
