import type { PushMethod } from '../../device-models/index.js';
import type { Logger } from '../logger.js';
import { BoundedQueue } from '../runtime/bounded-queue.js';
import type { Pusher, PushSample } from './index.js';
import { PUSH_QUEUE_LIMIT } from './index.js';

type HttpMethod = NonNullable<PushMethod['http']>;

/** POSTs each sample as JSON to `hostName:port/requestPath`, one request at a time, oldest dropped when full. */
export class HttpPusher implements Pusher {
  private readonly queue = new BoundedQueue<PushSample>(PUSH_QUEUE_LIMIT);
  private readonly url: string;
  private sending = false;
  private closed = false;

  constructor(
    private readonly method: HttpMethod,
    private readonly log: Logger,
  ) {
    const host = method.hostName ?? 'http://127.0.0.1';
    const base = /^https?:\/\//.test(host) ? host : `http://${host}`;
    this.url = `${base}${method.port ? `:${method.port}` : ''}${method.requestPath ?? '/'}`;
  }

  push(sample: PushSample): void {
    if (this.closed) return;
    if (this.queue.push(sample) && this.queue.dropped % 100 === 1)
      this.log.warn({ dropped: this.queue.dropped, url: this.url }, 'http push queue full; dropping oldest');
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      for (let sample = this.queue.shift(); sample && !this.closed; sample = this.queue.shift()) {
        try {
          const response = await fetch(this.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(sample),
            signal: AbortSignal.timeout(this.method.timeout || 5000),
          });
          await response.arrayBuffer();
          if (!response.ok) this.log.debug({ status: response.status, url: this.url }, 'http push refused');
        } catch (error) {
          this.log.debug({ err: (error as Error).message, url: this.url }, 'http push failed');
        }
      }
    } finally {
      this.sending = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
