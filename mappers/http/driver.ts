import {
  abortReason,
  type Call,
  DeviceUnavailable,
  type Driver,
  fromTwin,
  type Point,
  ProtocolError,
  ProtocolTimeout,
  type Reading,
  readOneOf,
  toTwin,
} from '../../sdk/index.js';
import { fill, lookup, place } from './json-pointer.js';
import type { HttpConfig, HttpVisitor } from './schema.js';

/** How long one request may take when the config gives no `timeoutMs`, ms. */
export const DEFAULT_TIMEOUT_MS = 2000;

type HttpPoint = Point<HttpVisitor>;
type Value = Reading['value'];

/**
 * A device with a REST/JSON API, over Node's fetch. No connection to hold: `connect` checks the device answers
 * (any HTTP status will do), and every read or write is one request with the call's signal and timeout. A batch
 * sends one request per method and path and takes each point's value from the answer by its JSON pointer.
 */
export class HttpDriver implements Driver<HttpConfig, HttpVisitor> {
  private config: HttpConfig | undefined;

  async connect(config: HttpConfig, call: Call): Promise<void> {
    this.config = undefined;
    // Any answer will do (a device need not serve its root): a refused request is the device's word, not a failure.
    await this.fetch('GET', '', call, undefined, config).catch((error: Error) => {
      if (!(error instanceof ProtocolError)) throw error;
    });
    this.config = config;
  }

  read(point: HttpPoint, call: Call): Promise<Reading> {
    return readOneOf(this, point, call);
  }

  async readMany(points: HttpPoint[], call: Call): Promise<(Reading | Error)[]> {
    const answers = new Map<string, Promise<unknown>>();
    let gone: Error | undefined;
    const results: (Reading | Error)[] = [];
    for (const point of points) {
      const { method = 'GET', path } = point.visitor;
      const key = `${method} ${path}`;
      let answer = answers.get(key);
      if (!answer) {
        // After a timeout or a lost connection the device is not asked again in this batch.
        answer = gone ? Promise.reject(gone) : this.json(method, path, call);
        answer.catch(() => {});
        answers.set(key, answer);
      }
      try {
        const { pointer = '' } = point.visitor;
        const found = lookup(await answer, pointer);
        if (!found.found) throw new ProtocolError(`${key}: nothing at '${pointer}' in the answer`);
        results.push(reading(point, found.value));
      } catch (error) {
        if (error instanceof ProtocolTimeout || error instanceof DeviceUnavailable) gone = error;
        results.push(error as Error);
      }
    }
    return results;
  }

  async write({ visitor: v }: HttpPoint, value: Value, call: Call): Promise<void> {
    const body = v.body === undefined ? place(v.writePointer ?? v.pointer ?? '', value) : fill(v.body, value);
    await this.fetch(v.writeMethod ?? 'PUT', v.writePath ?? v.path, call, body);
  }

  async close(): Promise<void> {
    this.config = undefined;
  }

  private connected(): HttpConfig {
    if (!this.config) throw new DeviceUnavailable('the http device is not connected');
    return this.config;
  }

  private async json(method: string, path: string, call: Call): Promise<unknown> {
    const text = await this.fetch(method, path, call);
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new ProtocolError(`${method} ${path}: not JSON: ${snippet(text)}`, { cause: error });
    }
  }

  /**
   * One request, to the text it answers; outside 2xx a ProtocolError naming the status and what the device said.
   * `connection: close`: no socket outlives its request (cheap devices take few). A GET is sent once more when
   * fetch gave it a socket the device had closed (undici keeps the socket of an aborted request until then).
   */
  private async fetch(method: string, path: string, call: Call, body?: unknown, config = this.connected()) {
    const what = `${method} ${path || '/'}`;
    const signal = AbortSignal.any([call.signal, AbortSignal.timeout(call.timeoutMs)]);
    const headers: Record<string, string> = {
      accept: 'application/json',
      connection: 'close',
      ...config.headers,
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const url = `${config.baseURL.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
    const init = { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) };
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await fetch(url, init);
        const text = await response.text();
        if (response.ok) return text;
        throw new ProtocolError(`${what}: HTTP ${response.status} ${response.statusText}: ${snippet(text)}`);
      } catch (error) {
        if (error instanceof ProtocolError) throw error;
        if (signal.aborted && (signal.reason as Error)?.name === 'TimeoutError')
          throw new ProtocolTimeout(`${what}: no answer within ${call.timeoutMs} ms`, { cause: error });
        if (signal.aborted) throw abortReason(signal);
        const cause = (error as Error).cause as (Error & { code?: string }) | undefined;
        if (method === 'GET' && attempt === 1 && cause?.code === 'UND_ERR_SOCKET') continue;
        throw new DeviceUnavailable(`${what}: ${cause?.message ?? (error as Error).message}`, {
          cause: error,
        });
      }
    }
  }
}

/** A JSON scalar as the property's type, by the SDK's twin codec (not range-checked: it is what the device holds). */
function reading({ name, property }: HttpPoint, raw: unknown): Reading {
  try {
    if (raw === null || typeof raw === 'object') throw new Error(`${JSON.stringify(raw)} is not a value`);
    const unbounded = { ...property, minimum: undefined, maximum: undefined };
    return {
      value: fromTwin(unbounded, toTwin(property, raw as Value)),
      quality: 'good',
      timestamp: Date.now(),
    };
  } catch (error) {
    throw new ProtocolError(`${name}: ${(error as Error).message}`, { cause: error });
  }
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return (flat.length > 200 ? `${flat.slice(0, 200)}…` : flat) || '(no body)';
}
