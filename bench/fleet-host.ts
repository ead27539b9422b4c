import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { FleetEdgesCommand, FleetEdgesCounts, FleetEdgesEvent, FleetEdgesStart } from './fleet-edges.js';

const SCRIPT = fileURLToPath(new URL('./fleet-edges.js', import.meta.url));

/** Where each node's link is, as its edge last said. */
export interface LinkState {
  server: string;
  up: boolean;
  /** When it last connected (ms since the epoch). */
  connectedAt: number;
}

/**
 * The benchmark's side of one edge process (bench/fleet-edges.ts): commands over IPC, answers matched by id,
 * and every node's link state as its `link` events come.
 */
export class EdgeProcess {
  readonly links = new Map<string, LinkState>();
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, (event: FleetEdgesEvent) => void>();
  private failure?: Error;

  constructor(private readonly onLink: (node: string, link: LinkState) => void = () => {}) {
    this.child = fork(SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (event: FleetEdgesEvent) => this.onEvent(event));
    this.child.once('exit', (code, signal) => {
      this.failure ??= new Error(`edge process exited (${code ?? signal})`);
      for (const answer of this.waiting.values()) answer({ type: 'failed', error: this.failure.message });
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Joins and starts its edges; resolves once every one is started (connected or connecting). */
  async start(command: Omit<FleetEdgesStart, 'type'>): Promise<void> {
    const started = new Promise<void>((resolve, reject) => {
      const onMessage = (event: FleetEdgesEvent) => {
        if (event.type === 'started') resolve();
        else if (event.type === 'failed') reject(new Error(event.error));
        else return;
        this.child.off('message', onMessage);
      };
      this.child.on('message', onMessage);
      this.child.once('exit', () => reject(this.failure));
    });
    this.send({ type: 'start', ...command });
    await started;
  }

  online(): Promise<void> {
    return this.ask({ type: 'online', id: 0 }).then(() => {});
  }

  report(on: boolean): Promise<void> {
    return this.ask({ type: 'report', on, id: 0 }).then(() => {});
  }

  async counts(): Promise<FleetEdgesCounts> {
    const event = await this.ask({ type: 'query', id: 0 });
    if (event.type !== 'counts') throw new Error(`edge process: ${JSON.stringify(event)}`);
    return event.counts;
  }

  /** The last value each edge here reported: [device name, property, value]. */
  async last(): Promise<[string, string, string][]> {
    const event = await this.ask({ type: 'last', id: 0 });
    if (event.type !== 'last') throw new Error(`edge process: ${JSON.stringify(event)}`);
    return event.values;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.send({ type: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }

  private ask(command: Extract<FleetEdgesCommand, { id: number }>): Promise<FleetEdgesEvent> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (event) => {
        this.waiting.delete(id);
        if (event.type === 'failed') reject(new Error(event.error));
        else resolve(event);
      });
      this.send({ ...command, id });
    });
  }

  private send(command: FleetEdgesCommand): void {
    this.child.send(command);
  }

  private onEvent(event: FleetEdgesEvent): void {
    if (event.type === 'link') {
      const before = this.links.get(event.node);
      const link = {
        server: event.server,
        up: event.up,
        connectedAt: event.up ? event.at : (before?.connectedAt ?? 0),
      };
      this.links.set(event.node, link);
      this.onLink(event.node, link);
    } else if ('id' in event && event.id !== undefined) this.waiting.get(event.id)?.(event);
    else if (event.type === 'failed') {
      this.failure ??= new Error(event.error);
      for (const answer of [...this.waiting.values()]) answer(event);
    }
  }
}
