import {
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  ListWatch,
  Watch,
} from '@kubernetes/client-node';
import { API_GROUP } from '../device-models/index.js';
import type { Logger } from '../sdk/logger.js';
import { backoffDelay } from '../sdk/runtime/backoff.js';
import { describeApiError } from './status-writer.js';

/**
 * client-node's ListWatch (it keeps the resourceVersion, relists on 410 Gone and watches again when a watch
 * ends) with what it lacks: a restart with backoff after an error (ListWatch gives up), and a stop that
 * waits for requests in flight, so that no watch opens after stop().
 */
export class Informer {
  private readonly watch: StoppableWatch;
  private readonly cache: ListWatch<KubernetesObject>;
  private readonly log: Logger;
  private timer?: NodeJS.Timeout;
  private attempt = 0;
  private listed = false;
  private firstError: unknown;
  private running = false;
  /** Lists made (the first, then one per relist: after 410 Gone or an error). */
  lists = 0;

  constructor(
    kubeConfig: KubeConfig,
    plural: string,
    log: Logger,
    changed: (o: KubernetesObject, deleted: boolean) => void,
  ) {
    this.log = log.child({ plural });
    this.watch = new StoppableWatch(kubeConfig);
    const path = `/apis/${API_GROUP}/v1beta1/${plural}`;
    const api = kubeConfig.makeApiClient(CustomObjectsApi);
    const list = async () => {
      const generation = this.watch.generation;
      const result = await api.listClusterCustomObject({ group: API_GROUP, version: 'v1beta1', plural });
      this.lists++;
      if (generation !== this.watch.generation) throw new Error('stopped');
      this.listed = true;
      this.attempt = 0;
      return result;
    };
    this.cache = new ListWatch(path, this.watch, list, false);
    this.cache.on('add', (o) => changed(o, false));
    this.cache.on('update', (o) => changed(o, false));
    this.cache.on('delete', (o) => changed(o, true));
    this.cache.on('error', (error) => this.failed(error));
  }

  /** Watches opened (the first, then one each time the API server ends one). */
  get watches(): number {
    return this.watch.opened;
  }

  get size(): number {
    return this.cache.list().length;
  }

  list(namespace?: string): readonly KubernetesObject[] {
    return this.cache.list(namespace);
  }

  get(name: string, namespace?: string): KubernetesObject | undefined {
    return this.cache.get(name, namespace);
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.firstError = undefined;
    this.watch.open();
    await this.watch.track(this.cache.start());
    if (!this.listed) throw this.firstError ?? new Error('list failed');
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    const closed = this.watch.close();
    await this.cache.stop();
    await closed;
  }

  private failed(error: unknown): void {
    if (!this.running) return;
    if (!this.listed) {
      this.firstError ??= error;
      return;
    }
    const delay = backoffDelay(this.attempt++, { initialMs: 250, maxMs: 10_000 });
    this.log.warn({ err: describeApiError(error), retryInMs: delay }, 'watch failed');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.running) void this.watch.track(this.cache.start());
    }, delay);
  }
}

type WatchCallback = Parameters<Watch['watch']>[2];
type DoneCallback = Parameters<Watch['watch']>[3];

/**
 * client-node's Watch, made stoppable: close() bumps a generation, after which the older watches' events and
 * ends are not passed on, a watch that connects late is aborted at once, and none is opened until open().
 * track() remembers work in flight (ListWatch's relists and rewatches) so close() can wait for it.
 */
class StoppableWatch extends Watch {
  generation = 0;
  opened = 0;
  private isOpen = false;
  private readonly busy = new Set<Promise<unknown>>();

  open(): void {
    this.isOpen = true;
  }

  async close(): Promise<void> {
    this.isOpen = false;
    this.generation++;
    while (this.busy.size > 0) await Promise.allSettled([...this.busy]);
  }

  track<T>(work: Promise<T>): Promise<T> {
    this.busy.add(work);
    const forget = () => this.busy.delete(work);
    work.then(forget, forget);
    return work;
  }

  override watch(
    path: string,
    params: Record<string, string | number | boolean | undefined>,
    callback: WatchCallback,
    done: DoneCallback,
  ): Promise<AbortController> {
    const generation = this.generation;
    const current = () => this.isOpen && generation === this.generation;
    if (!current()) {
      const aborted = new AbortController();
      aborted.abort();
      return Promise.resolve(aborted);
    }
    const relay: DoneCallback = (err) => {
      if (current()) this.track(Promise.resolve(done(err) as unknown)).catch(() => {});
    };
    this.opened++;
    return this.track(
      super
        .watch(path, params, (...event) => current() && callback(...event), relay)
        .then((controller) => {
          if (!current()) controller.abort();
          return controller;
        }),
    );
  }
}
