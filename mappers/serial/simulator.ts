import { dirname } from 'node:path';
import { ReadlineParser, SerialPort } from 'serialport';
import type { ResolvedDevice, SerialConfig, SerialVisitor } from '../../device-models/index.js';
import { type Logger, silentLogger } from '../../sdk/logger.js';
import { openPtyPair, type PtyPair } from '../../sdk/testing/pty.js';

export interface SerialSimulatorOptions {
  /** The serial line to serve; without it the simulator opens its own pty pair and serves one end. */
  path?: string;
  /** What a client opens (returned as `serialName`) when `path` is given; default `path`. */
  peer?: string;
  baudRate?: number;
  /** Seeds the streamed weight (default 0). */
  seed?: number;
  /** Streaming period, ms (default 100). */
  intervalMs?: number;
  log?: Logger;
}

export interface SerialSimulator {
  /**
   * Starts serving; resolves to the config a client needs. Without `path`, every start opens a fresh pty pair
   * at the same paths as the first, so a client reconnects as to a device plugged back in.
   */
  start(): Promise<Partial<SerialConfig>>;
  /** Stops streaming, closes the port and the pty pair; safe to call twice. */
  stop(): Promise<void>;
  /** While true, the simulator sends nothing. */
  silent: boolean;
  /** The last value written to the property (the text put in for {value}, or the command text). */
  written(property: string): string | undefined;
  /** Every line received, in order. */
  readonly received: string[];
}

/**
 * A line-protocol device on a real serial line. For a scale-like device (a streaming pattern with `GS|NT`)
 * it streams `ST,GS,+0001.23kg` lines and switches to NT after the tare command. Generically it answers every
 * visitor `request` with a line matching its `pattern`, and echoes values written through `writeTemplate`.
 */
export function createSerialSimulator(
  device: ResolvedDevice<SerialConfig, SerialVisitor>,
  options: SerialSimulatorOptions = {},
): SerialSimulator {
  const log = (options.log ?? silentLogger).child({ module: 'mapper:serial:simulator', device: device.id });
  const intervalMs = options.intervalMs ?? 100;
  const seed = options.seed ?? 0;
  const delimiter = device.config.delimiter ?? '\r\n';
  const writes = new Map<string, string>();
  const received: string[] = [];
  let mode: 'GS' | 'NT' = 'GS';
  let tareOffset = 0;
  let tick = 0;
  let port: SerialPort | undefined;
  let pty: PtyPair | undefined;
  /** Where the pty links live, kept from the first start. */
  let ptyDir: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;

  const gross = () => Math.round((1.23 + 0.5 * Math.sin((tick + seed) / 5)) * 100) / 100;
  const weightText = (kg: number) => {
    const sign = kg < 0 ? '-' : '+';
    return `${sign}${Math.abs(kg).toFixed(2).padStart(7, '0')}kg`;
  };
  const scaleLine = () => `ST,${mode},${weightText(gross() - tareOffset)}`;

  const send = (line: string) => {
    if (simulator.silent || !port?.isOpen) return;
    port.write(`${line}${delimiter}`);
  };

  /** A line matching a request visitor's pattern: a known value written, else a deterministic number. */
  const answerFor = (name: string, visitor: SerialVisitor, type: string): string => {
    const value = writes.get(name) ?? (type === 'STRING' ? 'edgetwin' : type === 'BOOLEAN' ? 'true' : '42');
    return lineFor(visitor.pattern ?? '', value);
  };

  const onLine = (line: string) => {
    received.push(line);
    if (simulator.silent) return;
    const full = `${line}${delimiter}`;
    for (const p of device.properties) {
      const visitor = p.visitor;
      if (visitor.request !== undefined && visitor.request === full)
        send(answerFor(p.name, visitor, p.model.type));
      const template = visitor.writeTemplate;
      if (template === undefined) continue;
      const value = matchTemplate(template, full);
      if (value === undefined) continue;
      writes.set(p.name, value);
      if (!template.includes('{value}') && /^T\r?\n?$/.test(template)) {
        tareOffset = gross();
        mode = 'NT';
        send(scaleLine());
      } else if (visitor.ackPattern !== undefined) send(lineFor(visitor.ackPattern, value));
    }
  };

  const streaming = device.properties.some((p) => p.visitor.request === undefined && p.visitor.pattern);

  const simulator: SerialSimulator = {
    silent: false,
    received,
    written: (property) => writes.get(property),
    async start() {
      stopping = undefined;
      let path = options.path;
      let peer = options.peer ?? options.path;
      if (!path) {
        pty = await openPtyPair({ dir: ptyDir });
        ptyDir = dirname(pty.a);
        path = pty.a;
        peer = pty.b;
      }
      const opened = new SerialPort({
        path,
        baudRate: options.baudRate ?? device.config.baudRate ?? 9600,
        autoOpen: false,
      });
      await new Promise<void>((resolve, reject) => opened.open((e) => (e ? reject(e) : resolve())));
      opened.on('error', (error) => log.warn({ err: error }, 'simulator port error'));
      opened.pipe(new ReadlineParser({ delimiter })).on('data', onLine);
      port = opened;
      if (streaming)
        timer = setInterval(() => {
          tick += 1;
          send(scaleLine());
        }, intervalMs);
      return { serialName: peer as string };
    },
    stop() {
      stopping ??= (async () => {
        if (timer) clearInterval(timer);
        timer = undefined;
        const p = port;
        port = undefined;
        if (p?.isOpen) await new Promise<void>((resolve) => p.close(() => resolve()));
        await pty?.close();
        pty = undefined;
      })();
      return stopping;
    },
  };
  return simulator;
}

/** The value a line carries for a write template ("SET {value}\r\n" vs "SET 12\r\n" → "12"); undefined if no match. */
function matchTemplate(template: string, line: string): string | undefined {
  const i = template.indexOf('{value}');
  if (i < 0) return template === line ? 'true' : undefined;
  const head = template.slice(0, i);
  const tail = template.slice(i + '{value}'.length);
  if (!line.startsWith(head) || !line.endsWith(tail) || line.length < head.length + tail.length)
    return undefined;
  return line.slice(head.length, line.length - tail.length);
}

/**
 * A cheap line for a pattern: strips anchors and puts `value` in for the named group. Good enough for
 * simple patterns such as '^T=(?<value>\d+)$' or '^ST,NT,'.
 */
export function lineFor(pattern: string, value: string): string {
  return pattern
    .replace(/^\^/, '')
    .replace(/\$$/, '')
    .replace(/\(\?<value>[^)]*\)/, value)
    .replace(/\\(.)/g, '$1');
}
