import mqtt, { type MqttClient } from 'mqtt';

/** One JSON message seen on the EventBus. */
export interface WatchedMessage {
  topic: string;
  payload: Record<string, unknown>;
}

/** An MQTT client that records every message on a filter, and waits for the one a test expects. */
export interface TopicWatcher {
  client: MqttClient;
  /** Resolves with the first message (already seen, or still to come) that matches. */
  next(match: (message: WatchedMessage) => boolean): Promise<WatchedMessage>;
  /** Forgets what was seen so far. */
  clear(): void;
  subscribe(filter: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A raw MQTT client for tests that records every JSON message on `filter` and lets a test wait for the one it
 * expects — the event, never a sleep. Non-JSON payloads are ignored.
 */
export async function watchTopics(url: string, filter = '$hw/events/#'): Promise<TopicWatcher> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4 });
  const seen: WatchedMessage[] = [];
  let waiting: { match: (m: WatchedMessage) => boolean; resolve: (m: WatchedMessage) => void }[] = [];
  client.on('message', (topic, buffer) => {
    let payload: Record<string, unknown>;
    try {
      payload = JSON.parse(buffer.toString());
    } catch {
      return;
    }
    const message = { topic, payload };
    seen.push(message);
    const matched = waiting.filter((w) => w.match(message));
    waiting = waiting.filter((w) => !matched.includes(w));
    for (const w of matched) w.resolve(message);
  });
  const watcher: TopicWatcher = {
    client,
    next: (match) =>
      new Promise((resolve) => {
        const found = seen.find(match);
        if (found) resolve(found);
        else waiting.push({ match, resolve });
      }),
    clear: () => {
      seen.length = 0;
    },
    subscribe: async (more) => {
      await client.subscribeAsync(more, { qos: 1 });
    },
    close: () => client.endAsync(),
  };
  await watcher.subscribe(filter);
  return watcher;
}
