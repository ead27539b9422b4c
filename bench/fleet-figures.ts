import type { Cluster } from '../test/k8s/cluster.js';
import { type CloudProcess, cloudMetrics } from '../test/support/fleet-replicas.js';
import { cores, type ProcSample, procSample, promSum, quantile } from '../test/support/fleet-stats.js';
import type { FleetSettings } from './fleet.js';
import type { EdgeProcess } from './fleet-host.js';
import type { StatusWatch } from './fleet-watch.js';

/** What is counted at one instant: both ends of the measuring window. */
export interface Sample {
  at: number;
  /** Each replica's /metrics ('' when it did not answer). */
  cloud: string[];
  /** The API server's /metrics ('' when it did not answer). */
  apiserver: string;
  /** The replicas, then the API server and etcd. */
  procs: (ProcSample | undefined)[];
  hosts: (ProcSample | undefined)[];
  edges: { reported: number; skipped: number; outbox: number };
}

export async function sample(
  cluster: Cluster,
  replicas: CloudProcess[],
  hosts: EdgeProcess[],
  pids: number[],
  counts: () => Promise<{ reported: number; skipped: number; outbox: number }>,
): Promise<Sample> {
  const at = performance.now();
  const procs = [...replicas.map((r) => procSample(r.child.pid ?? 0)), ...pids.map((pid) => procSample(pid))];
  // A replica (or the API server) too busy to answer within 30 s leaves its figures out (n/a), not the run.
  const [cloud, apiserver, edges] = await Promise.all([
    Promise.all(replicas.map((r) => cloudMetrics(r).catch(() => ''))),
    cluster.run(['get', '--raw', '/metrics', '--request-timeout', '30s']).catch(() => ''),
    counts(),
  ]);
  return { at, cloud, apiserver, procs, hosts: hosts.map((h) => procSample(h.pid)), edges };
}

const s1 = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mb = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MB`;

/** The figures of the measuring window, one line each. */
export function windowFigures(
  s: FleetSettings,
  before: Sample,
  after: Sample,
  watch: StatusWatch,
  replicas: CloudProcess[],
  hosts: EdgeProcess[],
): string[] {
  const window = (after.at - before.at) / 1000;
  const rate = (n: number) => Math.round(n / window);
  const latencies = watch.latencies.sort((a, b) => a - b);
  const shown = watch.shown.sort((a, b) => a - b);
  const cloud = (m: Sample, name: string, labels: Record<string, string> = {}) =>
    m.cloud.every((t) => t.includes(name))
      ? m.cloud.reduce((n, t) => n + promSum(t, name, labels), 0)
      : undefined;
  const cloudRate = (name: string, labels: Record<string, string> = {}) => {
    const [from, to] = [cloud(before, name, labels), cloud(after, name, labels)];
    return from === undefined || to === undefined ? 'n/a' : `${rate(to - from)}/s`;
  };
  // Server-side apply counts as verb APPLY, a merge patch as PATCH, a replace as UPDATE.
  const api = (labels: Record<string, string | RegExp>) => {
    if (!before.apiserver || !after.apiserver) return 'n/a';
    const count = (m: Sample) => promSum(m.apiserver, 'apiserver_request_total', labels);
    return `${rate(count(after) - count(before))}/s`;
  };
  const writes = /^(APPLY|PATCH|UPDATE|POST)$/;
  const skipped = after.edges.skipped - before.edges.skipped;
  return [
    `fleet: ${s.edges} edges × ${s.devices} devices × ${s.properties} properties every ${s.periodMs} ms; ` +
      `2 replicas, --status-interval ${s.statusIntervalMs} ms, edge writeBehindMs ${s.writeBehindMs}; ` +
      `${window.toFixed(1)} s window after ${s.warmupSeconds} s warm-up`,
    `  reports: ${rate(after.edges.reported - before.edges.reported)}/s made at the edges` +
      (skipped > 0 ? ` (${rate(skipped)}/s skipped: the edge processes fell behind)` : '') +
      `, ${rate(watch.covered)}/s reached DeviceStatus (as values or coalesced into newer ones); ` +
      `outboxes hold ${after.edges.outbox} records`,
    `  status writes: cloudcore (both replicas) ${cloudRate('edgetwin_cloudcore_status_patches_total', { result: 'ok' })} ` +
      `sent, ${cloudRate('edgetwin_cloudcore_status_reports_total', { type: 'twins' })} twin reports taken, ` +
      `${cloudRate('edgetwin_cloudcore_status_reports_coalesced_total')} coalesced; the API server took ` +
      `${api({ verb: writes, resource: 'devicestatuses' })} DeviceStatus writes, ` +
      `${api({ verb: writes, resource: 'devices', subresource: 'status' })} Device status writes, ` +
      `${api({ verb: writes, resource: 'events' })} Event writes, ${api({ verb: writes, resource: 'leases' })} ` +
      `Lease writes, ${api({})} requests in all`,
    `  sync latency, report made → DeviceStatus shows it or newer: p50 ${s1(quantile(latencies, 0.5))}, ` +
      `p99 ${s1(quantile(latencies, 0.99))} (${latencies.length} reports); values that showed: ` +
      `p50 ${s1(quantile(shown, 0.5))}, p99 ${s1(quantile(shown, 0.99))}`,
    ...replicas.map(
      (replica, i) =>
        `  ${replica.id}: ${usage(before.procs[i], after.procs[i])}, ${servedBy(hosts, replica)} edges`,
    ),
    `  kube-apiserver: ${usage(before.procs[2], after.procs[2])}; etcd: ${usage(before.procs[3], after.procs[3])}; ` +
      `edge processes: ${before.hosts.map((b, i) => usage(b, after.hosts[i])).join(', ')}`,
  ];
}

function usage(from: ProcSample | undefined, to: ProcSample | undefined): string {
  if (!from || !to) return 'n/a';
  return `${cores(from, to).toFixed(2)} cores, RSS ${mb(to.rssBytes)}`;
}

/** How many edges are connected to `replica` now. */
export function servedBy(hosts: EdgeProcess[], replica: CloudProcess): number {
  let count = 0;
  for (const host of hosts)
    for (const link of host.links.values()) if (link.up && link.server === replica.url) count++;
  return count;
}
