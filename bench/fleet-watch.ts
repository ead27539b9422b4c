import { CustomObjectsApi, type KubeConfig, Watch } from '@kubernetes/client-node';
import { FLEET_GROUP, type StatusTwin } from '../test/support/fleet-devices.js';

interface StatusObject {
  metadata?: { name?: string; resourceVersion?: string };
  status?: { twins?: StatusTwin[] };
}

/**
 * Watches a namespace's DeviceStatuses as any controller would (list, then watch from its resourceVersion,
 * again from the last one seen when the API server ends a watch, a new list after 410 Gone), and reads the
 * fleet's reported values, `<round>:<made at, ms>` (bench/fleet-edges.ts): a value showing for a property
 * covers its own report and every earlier one of that property not shown (coalesced away). While recording,
 * each covered report counts, with its sync latency: when it showed (or a newer value did) minus when it was
 * made — an earlier round's making time taken as the shown one's less whole periods.
 */
export class StatusWatch {
  /** device name → property → the value showing now. */
  readonly values = new Map<string, Map<string, string>>();
  /** Reports covered, and their latencies (ms), since recording started. */
  covered = 0;
  latencies: number[] = [];
  /** Latencies of the values that showed themselves (not counting those coalesced away). */
  shown: number[] = [];
  recording = false;
  private readonly rounds = new Map<string, number>();
  private abort?: AbortController;
  private resourceVersion = '';
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private readonly path: string;

  constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly namespace: string,
    private readonly periodMs: number,
  ) {
    this.path = `/apis/${FLEET_GROUP.group}/${FLEET_GROUP.version}/namespaces/${namespace}/devicestatuses`;
  }

  /** Properties with a value showing, over every device. */
  get showing(): number {
    let count = 0;
    for (const properties of this.values.values()) count += properties.size;
    return count;
  }

  startRecording(): void {
    this.covered = 0;
    this.latencies = [];
    this.shown = [];
    this.recording = true;
  }

  async start(): Promise<void> {
    await this.list();
    await this.watch();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort?.abort();
  }

  private async list(): Promise<void> {
    const api = this.kubeConfig.makeApiClient(CustomObjectsApi);
    let _continue: string | undefined;
    do {
      const page = (await api.listNamespacedCustomObject({
        ...FLEET_GROUP,
        namespace: this.namespace,
        plural: 'devicestatuses',
        limit: 500,
        ...(_continue ? { _continue } : {}),
      })) as { items: StatusObject[]; metadata?: { continue?: string; resourceVersion?: string } };
      for (const item of page.items) this.seen(item, Date.now());
      _continue = page.metadata?.continue || undefined;
      if (!_continue) this.resourceVersion = page.metadata?.resourceVersion ?? '';
    } while (_continue);
  }

  private async watch(): Promise<void> {
    if (this.stopped) return;
    let gone = false;
    this.abort = await new Watch(this.kubeConfig).watch(
      this.path,
      { resourceVersion: this.resourceVersion, allowWatchBookmarks: true },
      (phase, object: StatusObject & { code?: number }) => {
        if (phase === 'ERROR') {
          gone ||= object.code === 410;
          return;
        }
        if (object.metadata?.resourceVersion) this.resourceVersion = object.metadata.resourceVersion;
        if (phase === 'ADDED' || phase === 'MODIFIED') this.seen(object, Date.now());
      },
      () => {
        if (this.stopped) return;
        // Again from where it ended (a new list after 410 Gone); a failure is tried again a second later.
        this.restart(gone);
      },
    );
  }

  private restart(relist: boolean): void {
    if (this.stopped) return;
    (relist ? this.list() : Promise.resolve())
      .then(() => this.watch())
      .catch(() => {
        this.timer = setTimeout(() => this.restart(relist), 1000);
      });
  }

  private seen(object: StatusObject, at: number): void {
    const name = object.metadata?.name;
    if (!name) return;
    let properties = this.values.get(name);
    if (!properties) {
      properties = new Map();
      this.values.set(name, properties);
    }
    for (const twin of object.status?.twins ?? []) {
      const value = twin.reported?.value;
      if (value === undefined) continue;
      properties.set(twin.propertyName, value);
      const [round, made] = value.split(':').map(Number) as [number, number];
      if (!Number.isFinite(round) || !Number.isFinite(made)) continue;
      const key = `${name}/${twin.propertyName}`;
      const before = this.rounds.get(key);
      if (before !== undefined && round <= before) continue;
      this.rounds.set(key, round);
      if (!this.recording || before === undefined) continue;
      this.covered += round - before;
      this.shown.push(at - made);
      for (let r = before + 1; r <= round; r++) this.latencies.push(at - made + (round - r) * this.periodMs);
    }
  }
}
