import { join } from 'node:path';
import { inParallel } from '../test/support/fleet-devices.js';
import { FleetEdge } from '../test/support/fleet-edge.js';

/**
 * A process of the fleet benchmark (bench/fleet.ts) hosting some of its simulated edges (FleetEdge: the real
 * EdgeHub, CloudMetadata and SQLite TwinStore, no EventBus), run with `fork` and driven over IPC:
 * `start` joins and starts them; `online` reports every device online; `report` starts or stops reporting
 * every property of every device once per period, spread evenly over the period, each value
 * `<round>:<Date.now()>` so that whoever sees it in a DeviceStatus knows when it was made; `query` answers
 * counts; `last` the last value reported of each property; `stop` ends the process. Link events go to the
 * parent as they happen (`link`).
 */

export interface FleetEdgesStart {
  type: 'start';
  edges: { node: string; token: string; join: string }[];
  servers: string[];
  dir: string;
  properties: string[];
  periodMs: number;
  writeBehindMs: number;
  keepaliveSeconds: number;
  reconnectMaxSeconds: number;
}

export type FleetEdgesCommand =
  | FleetEdgesStart
  | { type: 'online'; id: number }
  | { type: 'report'; on: boolean; id: number }
  | { type: 'query'; id: number }
  | { type: 'last'; id: number }
  | { type: 'stop' };

export interface FleetEdgesCounts {
  /** Devices the cloud has sent, over every edge here. */
  held: number;
  connected: number;
  /** Property values reported, and those skipped because this process fell behind its schedule. */
  reported: number;
  skipped: number;
  /** Records in the outboxes (committed, not yet acknowledged by the cloud). */
  outbox: number;
  /** Joins made again after the cloud answered "try again" (the join ledger busy). */
  joinRetries: number;
}

export type FleetEdgesEvent =
  | { type: 'started' }
  | { type: 'failed'; id?: number; error: string }
  | { type: 'link'; node: string; server: string; up: boolean; at: number }
  | { type: 'done'; id: number }
  | { type: 'counts'; id: number; counts: FleetEdgesCounts }
  | { type: 'last'; id: number; values: [string, string, string][] };

const edges: FleetEdge[] = [];
let settings: FleetEdgesStart | undefined;
let reporting: { timer: NodeJS.Timeout; stop(): void } | undefined;
let skipped = 0;
let joinRetries = 0;

const send = (event: FleetEdgesEvent) => process.send?.(event);

async function start(command: FleetEdgesStart): Promise<void> {
  settings = command;
  // Every edge joins before any starts: an edge started gets its devices, and validating and storing them
  // would hold up the answers to the joins still going (which give up after 10 s).
  // A few joins at a time: each is a TLS handshake, a CSR signed and the ledger Secret written.
  await inParallel(command.edges, 4, async ({ node, token, join: server }) => {
    const options = {
      nodeName: node,
      dataDir: join(command.dir, node),
      join: server,
      token,
      servers: command.servers,
      writeBehindMs: command.writeBehindMs,
      keepaliveSeconds: command.keepaliveSeconds,
      reconnectMaxSeconds: command.reconnectMaxSeconds,
    };
    // Replicas taking joins at once race for the join ledger (one Secret); the loser's answer says "try
    // again", the token unspent: so it does, as an installer would.
    let edge: FleetEdge | undefined;
    for (let attempt = 1; !edge; attempt++)
      try {
        edge = await FleetEdge.join(options);
      } catch (error) {
        if (attempt >= 5 || !/try again/.test((error as Error).message)) throw error;
        joinRetries++;
      }
    edge.hub.on('connected', (at: string) =>
      send({ type: 'link', node, server: at, up: true, at: Date.now() }),
    );
    edge.hub.on('disconnected', (at: string) =>
      send({ type: 'link', node, server: at, up: false, at: Date.now() }),
    );
    edges.push(edge);
  });
  for (const edge of edges) await edge.start();
}

/** Every held device as [edge, id], in a fixed order. */
function devices(): [FleetEdge, string][] {
  return edges.flatMap((edge) => edge.deviceIds.sort().map((id): [FleetEdge, string] => [edge, id]));
}

/**
 * Reports device after device so that each reports once per period: every tick makes the reports due since
 * the last one; behind by more than a whole period, the oldest due are skipped (and counted), not made late.
 */
function startReporting(): void {
  const { periodMs, properties } = settings!;
  const all = devices();
  const started = performance.now();
  let made = 0;
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    const due = Math.floor(((performance.now() - started) / periodMs) * all.length);
    if (due - made > all.length) {
      skipped += (due - made - all.length) * properties.length;
      made = due - all.length;
    }
    for (; made < due; made++) {
      const [edge, id] = all[made % all.length]!;
      const value = `${Math.floor(made / all.length) + 1}:${Date.now()}`;
      edge.report(id, Object.fromEntries(properties.map((p) => [p, value])));
    }
  };
  reporting = {
    timer: setInterval(tick, 10),
    stop() {
      stopped = true;
      clearInterval(this.timer);
    },
  };
}

function counts(): FleetEdgesCounts {
  return {
    held: edges.reduce((n, e) => n + e.deviceIds.length, 0),
    connected: edges.filter((e) => e.hub.connected).length,
    reported: edges.reduce((n, e) => n + e.reported, 0),
    skipped,
    outbox: edges.reduce((n, e) => n + e.store.outboxDepth(), 0),
    joinRetries,
  };
}

process.on('message', (command: FleetEdgesCommand) => {
  switch (command.type) {
    case 'start':
      start(command).then(
        () => send({ type: 'started' }),
        (error: Error) => send({ type: 'failed', error: error.stack ?? error.message }),
      );
      return;
    case 'online':
      Promise.all(devices().map(([edge, id]) => edge.setState(id, 'online'))).then(
        () => send({ type: 'done', id: command.id }),
        (error: Error) => send({ type: 'failed', id: command.id, error: error.stack ?? error.message }),
      );
      return;
    case 'report':
      if (command.on && !reporting) startReporting();
      if (!command.on) {
        reporting?.stop();
        reporting = undefined;
      }
      send({ type: 'done', id: command.id });
      return;
    case 'query':
      send({ type: 'counts', id: command.id, counts: counts() });
      return;
    case 'last': {
      const values: [string, string, string][] = [];
      for (const [edge, id] of devices())
        for (const property of settings!.properties)
          values.push([id.slice(id.indexOf('/') + 1), property, edge.reportedValue(id, property) ?? '']);
      send({ type: 'last', id: command.id, values });
      return;
    }
    case 'stop':
      reporting?.stop();
      void Promise.all(edges.map((e) => e.stop())).finally(() => process.exit(0));
      return;
  }
});
