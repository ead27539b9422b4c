import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { CloudHub } from '../../cloudcore/cloudhub.js';
import { joinApi } from '../../cloudcore/join-api.js';
import type { NodeObject } from '../../cloudcore/node-session.js';
import { CloudPki, serverTlsOptions } from '../../cloudcore/pki.js';
import {
  HUB_OPERATIONS,
  HubMessage,
  type MsgTwinMap,
  TWIN_KEY_PATTERN,
  validatorFor,
} from '../../device-models/internal.js';
import { loadEdgeConfig } from '../../edgecore/config.js';
import { EdgeCore } from '../../edgecore/edgecore.js';
import { joinCloud } from '../../edgecore/join.js';
import { silentLogger } from '../../sdk/internal.js';
import { waitFor } from '../support/wait-for.js';
import {
  anyValue,
  deepArrayText,
  FUZZ_ID,
  fuzzDeviceObjects,
  msgTwinMap,
  mutatedObjects,
  nastyString,
} from './arbitraries.js';
import { fuzzParams, fuzzTimeout } from './fuzz-params.js';

/**
 * The edge ↔ cloud hub protocol fuzzed through its real WebSocket entry points (TLS, client certificates):
 * cloudcore's CloudHub fed frames by a joined node, and edgecore's EdgeHub fed frames by a cloud. A frame that is
 * a hub message (other than `response`/`keepalive`) is answered with a `response` to its msg_id within
 * ANSWER_MS, with a code below 500; CloudHub answers any other frame with a 400, EdgeHub logs and drops it
 * (its documented no-answer case). After every frame the peer still answers a probe; afterwards a normal
 * message still works.
 */

const ANSWER_MS = 5000;
const isHubMessage = validatorFor(HubMessage);
const twinKey = new RegExp(TWIN_KEY_PATTERN);

/** A frame: text (JSON of a message, or anything) or binary. */
interface Frame {
  data: string | Buffer;
  /** The parsed message when the frame is a valid hub message. */
  message?: HubMessage;
}

const operation = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...HUB_OPERATIONS) },
  { weight: 1, arbitrary: nastyString },
);

function header(resourceVersions: fc.Arbitrary<unknown>) {
  return fc.oneof(
    {
      weight: 8,
      arbitrary: fc.tuple(fc.uuid(), fc.nat(), resourceVersions).map(([msg_id, timestamp, rv]) => ({
        msg_id,
        timestamp,
        ...(rv === undefined ? {} : { resourceversion: rv }),
      })),
    },
    {
      weight: 1,
      arbitrary: fc.record(
        {
          msg_id: anyValue,
          parent_msg_id: anyValue,
          timestamp: anyValue,
          resourceversion: anyValue,
          sync: anyValue,
        },
        { requiredKeys: [] },
      ),
    },
  );
}

function frames(resource: fc.Arbitrary<string>, content: fc.Arbitrary<unknown>, rv: fc.Arbitrary<unknown>) {
  const message = fc
    .record({
      header: header(rv),
      route: fc.record({
        source: fc.oneof(fc.constantFrom('edgehub', 'cloudhub'), nastyString),
        group: fc.oneof(fc.constantFrom('resource', 'response', 'twin'), nastyString),
        operation,
        resource,
      }),
      content,
    })
    .map((m): unknown => m);
  const anyMessage = fc.oneof({ weight: 9, arbitrary: message }, { weight: 1, arbitrary: anyValue });
  return fc.oneof(
    {
      weight: 10,
      arbitrary: anyMessage.map((m): Frame => {
        const data = JSON.stringify(m) ?? 'null';
        return { data, ...(isHubMessage(m) ? { message: m as HubMessage } : {}) };
      }),
    },
    { weight: 1, arbitrary: nastyString.map((s): Frame => ({ data: s })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 32 }).map((b): Frame => ({ data: Buffer.from(b) })) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(100, 10_000)
        .map((d): Frame => ({ data: `{"header":{"msg_id":"x","timestamp":1},"route":${deepArrayText(d)}}` })),
    },
  );
}

/** Responses seen on a socket, by parent msg_id, and those without one. */
function responses(ws: WebSocket) {
  const byParent = new Map<string, { code?: number; reason?: string }>();
  let orphans = 0;
  ws.on('message', (data) => {
    let message: HubMessage;
    try {
      message = JSON.parse(data.toString()) as HubMessage;
    } catch {
      return;
    }
    if (message.route?.operation !== 'response') return;
    const parent = message.header.parent_msg_id;
    if (parent) byParent.set(parent, message.content as { code?: number });
    else orphans++;
  });
  return { byParent, orphans: () => orphans };
}

describe('fuzzing CloudHub with a joined node’s frames', () => {
  const NODE = 'node-f';
  let dir: string;
  let hub: CloudHub;
  let ws: WebSocket;
  let seen: ReturnType<typeof responses>;
  const reported = new Map<string, MsgTwinMap>();
  const violations: string[] = [];
  let probes = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fuzz-cloudhub-'));
    const pki = await CloudPki.open(join(dir, 'pki'));
    const objects = fuzzDeviceObjects();
    const object: NodeObject = {
      key: FUZZ_ID,
      resourceVersion: '1',
      content: { model: objects[0]!, device: objects[1]! },
    };
    hub = new CloudHub({
      pki,
      log: silentLogger,
      host: '127.0.0.1',
      port: 0,
      keepaliveMs: 60_000,
      resendMs: 60_000,
      handlers: {
        devicesOf: (node) => (node === NODE ? [object] : []),
        nodeOf: (key) => (key === FUZZ_ID ? NODE : key === 'default/other' ? 'node-x' : undefined),
        async twins(key, twins) {
          if (typeof twins !== 'object' || twins === null || Array.isArray(twins))
            violations.push(`twins of ${key}: ${JSON.stringify(twins)}`);
          for (const name of Object.keys(twins))
            if (!twinKey.test(name)) violations.push(`twin key ${JSON.stringify(name)}`);
          reported.set(key, { ...reported.get(key), ...twins });
        },
        async state(key, state) {
          if (typeof state.state !== 'string') violations.push(`state of ${key}: ${JSON.stringify(state)}`);
        },
      },
    });
    await hub.start();
    const nodeDir = join(dir, NODE);
    await joinCloud({
      cloud: hub.url,
      token: await pki.issueToken(600),
      nodeName: NODE,
      dataDir: nodeDir,
      configFile: join(nodeDir, 'edge.yaml'),
    });
    const config = await loadEdgeConfig(join(nodeDir, 'edge.yaml'));
    const { readFile } = await import('node:fs/promises');
    ws = new WebSocket(`wss://${hub.url}/edge`, {
      ca: await readFile(config.cloud.caFile),
      cert: await readFile(config.cloud.certFile),
      key: await readFile(config.cloud.keyFile),
    });
    seen = responses(ws);
    await once(ws, 'open');
  }, 30_000);
  afterAll(async () => {
    ws?.terminate();
    await hub?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** A query for another node's device: answered 403 to its msg_id. */
  async function probe(): Promise<void> {
    const msgId = `probe-${++probes}`;
    ws.send(
      JSON.stringify({
        header: { msg_id: msgId, timestamp: Date.now() },
        route: {
          source: 'edgehub',
          group: 'resource',
          operation: 'query',
          resource: `node/${NODE}/default/device/other`,
        },
        content: null,
      }),
    );
    const answer = await waitFor(`${msgId} answered`, () => seen.byParent.get(msgId), ANSWER_MS, 2);
    expect(answer.code).toBe(403);
  }

  const resource = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.constantFrom(
        `node/${NODE}/device/${FUZZ_ID}/twin/edge_updated`,
        `node/${NODE}/device/${FUZZ_ID}/state`,
        `node/${NODE}/default/device/fuzz-01`,
      ),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        `node/${NODE}/membership`,
        'node/node-x/device/default/other/twin/edge_updated',
        `node/${NODE}/device/default/other/state`,
        `node/${NODE}/device/default/unknown/twin/edge_updated`,
        `node//device/${FUZZ_ID}/state`,
        `node/${NODE}/device/${FUZZ_ID}/twin/edge_updated/x`,
        'node',
        '',
      ),
    },
    { weight: 1, arbitrary: nastyString },
  );
  const content = fc.oneof(
    { weight: 4, arbitrary: msgTwinMap.map((twin) => ({ twin })) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.oneof(fc.constantFrom('online', 'offline'), nastyString, anyValue),
          fc.oneof(nastyString, anyValue),
        )
        .map(([state, lastOnlineTime]) => ({ state, lastOnlineTime })),
    },
    { weight: 1, arbitrary: anyValue },
  );

  it(
    'answers every frame (a 400 for what is no hub message) and keeps answering',
    async () => {
      await probe();
      await fc.assert(
        fc.asyncProperty(frames(resource, content, fc.constant(undefined)), async (frame) => {
          const orphansBefore = seen.orphans();
          ws.send(frame.data, { binary: Buffer.isBuffer(frame.data) });
          const op = frame.message?.route.operation;
          if (!frame.message)
            await waitFor(
              'a 400 for a frame that is no hub message',
              () => seen.orphans() > orphansBefore,
              ANSWER_MS,
              2,
            );
          else if (op !== 'response' && op !== 'keepalive') {
            const id = frame.message.header.msg_id;
            const answer = await waitFor(`the response to ${id}`, () => seen.byParent.get(id), ANSWER_MS, 2);
            expect(answer.code, JSON.stringify(answer)).toBeGreaterThanOrEqual(200);
            expect(answer.code, JSON.stringify(answer)).toBeLessThan(500);
          }
          await probe();
        }),
        fuzzParams(150),
      );
      expect(violations).toEqual([]);
      // A normal report still goes through.
      const msgId = 'after-fuzz';
      ws.send(
        JSON.stringify({
          header: { msg_id: msgId, timestamp: Date.now() },
          route: {
            source: 'edgehub',
            group: 'resource',
            operation: 'update',
            resource: `node/${NODE}/device/${FUZZ_ID}/twin/edge_updated`,
          },
          content: { twin: { level: { actual: { value: '77' } } } },
        }),
      );
      const answer = await waitFor(
        'the normal report answered',
        () => seen.byParent.get(msgId),
        ANSWER_MS,
        2,
      );
      expect(answer.code).toBe(200);
      expect(reported.get(FUZZ_ID)?.level?.actual?.value).toBe('77');
    },
    fuzzTimeout(60_000),
  );
});

describe('fuzzing EdgeHub with a cloud’s frames', () => {
  const NODE = 'edge-node-1';
  let dir: string;
  let server: Server;
  let edge: EdgeCore;
  let ws: WebSocket;
  let seen: ReturnType<typeof responses>;
  let probes = 0;
  let resourceVersion = 10;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fuzz-edgehub-'));
    const pki = await CloudPki.open(join(dir, 'pki'));
    // A cloud of our own: cloudcore's join API, and a WebSocket endpoint the test drives frame by frame.
    const join_ = joinApi(pki);
    server = createServer(serverTlsOptions(pki), (req, res) => {
      if (!join_(req, res)) res.writeHead(404).end();
    });
    const wss = new WebSocketServer({ noServer: true });
    const connected = new Promise<WebSocket>((resolve) =>
      server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, resolve)),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const nodeDir = join(dir, 'node');
    await joinCloud({
      cloud: address,
      token: await pki.issueToken(600),
      nodeName: NODE,
      dataDir: nodeDir,
      configFile: join(nodeDir, 'edge.yaml'),
    });
    const joined = await loadEdgeConfig(join(nodeDir, 'edge.yaml'));
    edge = new EdgeCore({
      config: {
        ...joined,
        eventBus: { ...joined.eventBus, internal: { ...joined.eventBus.internal, port: 0, auth: 'none' } },
        http: { ...joined.http, port: 0 },
        devices: { dirs: [], watch: false },
        cloud: { ...joined.cloud, keepaliveSeconds: 60, reconnectMaxSeconds: 0.5 },
      },
    });
    await edge.start();
    ws = await connected;
    seen = responses(ws);
  }, 30_000);
  afterAll(async () => {
    await edge?.stop();
    ws?.terminate();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  /** A query on the membership, which the edge does not serve: answered 405 to its msg_id. */
  async function probe(): Promise<void> {
    const msgId = `probe-${++probes}`;
    ws.send(
      JSON.stringify({
        header: { msg_id: msgId, timestamp: Date.now() },
        route: {
          source: 'cloudhub',
          group: 'resource',
          operation: 'query',
          resource: `node/${NODE}/membership`,
        },
        content: null,
      }),
    );
    const answer = await waitFor(`${msgId} answered`, () => seen.byParent.get(msgId), ANSWER_MS, 2);
    expect(answer.code).toBe(405);
  }

  const resource = fc.oneof(
    { weight: 6, arbitrary: fc.constant(`node/${NODE}/default/device/fuzz-01`) },
    { weight: 2, arbitrary: fc.constant(`node/${NODE}/membership`) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'node/other-node/default/device/fuzz-01',
        `node/${NODE}/default/device/other`,
        `node/${NODE}/device/${FUZZ_ID}/twin/edge_updated`,
        `node/${NODE}//device/x`,
        '',
      ),
    },
    { weight: 1, arbitrary: nastyString },
  );
  const content = fc.oneof(
    {
      weight: 6,
      arbitrary: mutatedObjects.map((objects) => ({ model: objects[0], device: objects[1] })),
    },
    {
      weight: 2,
      arbitrary: fc
        .array(
          fc.record({
            key: fc.oneof(fc.constant(FUZZ_ID), nastyString),
            resourceVersion: fc.oneof(fc.nat().map(String), anyValue),
          }),
          { maxLength: 3 },
        )
        .map((devices) => ({ devices })),
    },
    { weight: 1, arbitrary: anyValue },
  );
  const rv = fc.oneof(
    { weight: 6, arbitrary: fc.constant(null).map(() => String(++resourceVersion)) },
    { weight: 1, arbitrary: fc.oneof(nastyString, fc.constant(undefined)) },
  );

  it(
    'answers every hub message with a code below 500, drops the rest, and keeps answering',
    async () => {
      await probe();
      await fc.assert(
        fc.asyncProperty(frames(resource, content, rv), async (frame) => {
          ws.send(frame.data, { binary: Buffer.isBuffer(frame.data) });
          const op = frame.message?.route.operation;
          if (frame.message && op !== 'response' && op !== 'keepalive') {
            const id = frame.message.header.msg_id;
            const answer = await waitFor(`the response to ${id}`, () => seen.byParent.get(id), ANSWER_MS, 2);
            expect(answer.code, JSON.stringify(answer)).toBeGreaterThanOrEqual(200);
            expect(answer.code, `${JSON.stringify(answer)} to ${frame.data.slice(0, 300)}`).toBeLessThan(500);
          }
          await probe();
        }),
        fuzzParams(100),
      );
      // A valid device, newer than anything sent, is stored and runs.
      const objects = fuzzDeviceObjects();
      const msgId = 'after-fuzz';
      ws.send(
        JSON.stringify({
          header: { msg_id: msgId, timestamp: Date.now(), resourceversion: String(10_000_000) },
          route: {
            source: 'cloudhub',
            group: 'resource',
            operation: 'update',
            resource: `node/${NODE}/default/device/fuzz-01`,
          },
          content: { model: objects[0], device: objects[1] },
        }),
      );
      const answer = await waitFor('the device stored', () => seen.byParent.get(msgId), ANSWER_MS, 2);
      expect(answer).toMatchObject({ code: 200 });
      const view = await fetch(`${edge.httpUrl}/api/v1/devices/${FUZZ_ID}`);
      expect(view.status).toBe(200);
    },
    fuzzTimeout(90_000),
  );
});
