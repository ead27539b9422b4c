import type { PushMethod } from '../../device-models/index.js';
import type { Logger } from '../logger.js';
import { HttpPusher } from './http-pusher.js';
import { MqttPusher } from './mqtt-pusher.js';

/** One collected value, as pushed to a property's `pushMethod` destination. */
export interface PushSample {
  namespace: string;
  deviceName: string;
  propertyName: string;
  value: string;
  type: string;
  /** ms since the epoch. */
  timestamp: number;
}

/** A destination for collected values. `push` never blocks or throws; a slow destination drops oldest. */
export interface Pusher {
  push(sample: PushSample): void;
  close(): Promise<void>;
}

/** How many samples wait for a slow destination before the oldest is dropped. */
export const PUSH_QUEUE_LIMIT = 1000;

/** The pusher for a property's pushMethod (mqtt or http); otel and dbMethod are not handled yet (logged once). */
export function createPusher(method: PushMethod, log: Logger): Pusher | undefined {
  if (method.mqtt) return new MqttPusher(method.mqtt, log);
  if (method.http) return new HttpPusher(method.http, log);
  log.warn(
    { pushMethod: Object.keys(method) },
    'push method not supported yet; values are only reported to the twin',
  );
  return undefined;
}
