import { type FSWatcher, watch } from 'node:fs';
import {
  formatProblem,
  type ResolvedDevice,
  type ValidateOptions,
  validateFiles,
} from '../device-models/index.js';
import type { Logger } from '../sdk/index.js';

export interface MetadataChange {
  added: ResolvedDevice[];
  removed: string[];
  changed: ResolvedDevice[];
}

/**
 * Standalone metadata: devices and models come from directories of YAML, re-read when a file changes.
 * A bad edit is reported (file:line) and ignored: the devices already running keep running.
 * Only devices for this node (spec.nodeName equal to ours, or empty) are taken.
 */
export class DirectoryMetadata {
  private current = new Map<string, ResolvedDevice>();
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> = Promise.resolve();

  constructor(
    private readonly dirs: readonly string[],
    private readonly nodeName: string,
    private readonly log: Logger,
    private readonly onChange: (change: MetadataChange) => Promise<void>,
    /** How the files are checked: `protocols` names the protocols whose configData is (built-in and plug-ins). */
    private readonly validation: ValidateOptions = {},
  ) {}

  devices(): ResolvedDevice[] {
    return [...this.current.values()];
  }

  /** Reads the directories once, reports the devices found, and (with `watchFiles`) watches for changes. */
  async start(watchFiles: boolean): Promise<void> {
    await this.reload();
    if (!watchFiles) return;
    for (const dir of this.dirs) {
      try {
        const watcher = watch(dir, { recursive: true }, () => this.schedule());
        watcher.on('error', (error) => this.log.warn({ dir, err: error.message }, 'stopped watching'));
        this.watchers.push(watcher);
      } catch (error) {
        this.log.warn({ dir, err: (error as Error).message }, 'cannot watch devices directory');
      }
    }
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    for (const watcher of this.watchers.splice(0)) watcher.close();
    await this.reading;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.reading = this.reading.then(() => this.reload());
    }, 200);
  }

  /** Re-reads everything; applies the difference unless the files have problems. */
  async reload(): Promise<void> {
    const result = await validateFiles(this.dirs, this.validation);
    for (const warning of result.warnings)
      this.log.warn({ problem: formatProblem(warning) }, 'device file warning');
    if (result.problems.length > 0) {
      for (const problem of result.problems)
        this.log.error({ problem: formatProblem(problem) }, 'device file problem');
      if (this.current.size > 0) {
        this.log.warn('device files have problems; keeping the devices already running');
        return;
      }
    }
    const next = new Map<string, ResolvedDevice>();
    for (const device of result.devices) {
      if (device.nodeName && device.nodeName !== this.nodeName) {
        this.log.info(
          { device: device.id, nodeName: device.nodeName },
          'device belongs to another node; skipped',
        );
        continue;
      }
      next.set(device.id, device);
    }
    const change: MetadataChange = { added: [], removed: [], changed: [] };
    for (const [id, device] of next) {
      const before = this.current.get(id);
      if (!before) change.added.push(device);
      else if (
        JSON.stringify([before.device, before.model]) !== JSON.stringify([device.device, device.model])
      )
        change.changed.push(device);
    }
    for (const id of this.current.keys()) if (!next.has(id)) change.removed.push(id);
    this.current = next;
    if (change.added.length + change.removed.length + change.changed.length > 0) await this.onChange(change);
  }
}
