import type { TemplateContext } from './context.js';

/**
 * The simulator stub: a TCP server that holds a value for every property of the device and tracks its sockets
 * (so stop leaves nothing open); speaking the protocol is the TODO.
 */
export function simulatorSource({ names, imports }: TemplateContext): string {
  const { pascal, protocol } = names;
  return `import { createServer, type Server, type Socket } from 'node:net';
import type { ModelProperty, ResolvedDevice, TwinValue } from '${imports.deviceModels}';
import type { SimulatorOptions } from '${imports.sdk}';
import type { ${pascal}Config, ${pascal}Visitor } from './schema.js';

export type ${pascal}Device = ResolvedDevice<${pascal}Config, ${pascal}Visitor>;

/** A value within the model's bounds: where the simulated device starts. */
function initialValue(property: ModelProperty): TwinValue {
  if (property.type === 'BOOLEAN') return false;
  if (property.type === 'STRING' || property.type === 'BYTES' || property.type === 'STREAM') return '';
  const low = property.minimum !== undefined ? Number(property.minimum) : 0;
  const high = property.maximum !== undefined ? Number(property.maximum) : low + 100;
  const middle = (low + high) / 2;
  return property.type === 'INT' ? Math.round(middle) : middle;
}

/**
 * Simulates one ${protocol} device as its YAML describes it, on TCP: for tests (the conformance suite),
 * \`edgetwin sim\` and demos. Every property holds a value in \`values\`, by its visitor's address.
 * TODO: speak ${protocol} in \`answer\`: parse each request, reply from \`values\` (and store what is written).
 */
export class ${pascal}Simulator {
  /** The value each property holds, by its visitor's address. */
  readonly values = new Map<string, TwinValue>();
  /** While true, requests are received and never answered: a device that stopped talking. */
  silent = false;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly host: string;
  private port: number;

  constructor(
    readonly device: ${pascal}Device,
    private readonly options: SimulatorOptions = {},
  ) {
    for (const property of device.properties)
      this.values.set(property.visitor.address, initialValue(property.model));
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port ?? Number(device.config.port);
  }

  /** Listens (again after a stop, on the same port); resolves to the configData that reaches it. */
  async start(): Promise<Record<string, unknown>> {
    if (this.server) return { host: this.host, port: this.port };
    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      socket.on('data', (request) => {
        if (!this.silent) this.answer(socket, request);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address && typeof address === 'object') this.port = address.port;
    this.server = server;
    return { host: this.host, port: this.port };
  }

  /** Closes the server and every connection; safe to call twice. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** One request from the driver. TODO: decode it, answer from \`values\`, store a written value in \`values\`. */
  private answer(socket: Socket, request: Buffer): void {
    this.options.log?.debug({ bytes: request.length, from: socket.remotePort }, 'request not answered');
  }
}
`;
}
