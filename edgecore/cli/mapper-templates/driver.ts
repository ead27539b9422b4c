import type { TemplateContext } from './context.js';

/** The driver stub: the `Driver` contract's methods, each throwing a ProtocolError that names what is left. */
export function driverSource({ names, imports, sourceDir }: TemplateContext): string {
  const { pascal, protocol } = names;
  return `import type { TwinValue } from '${imports.deviceModels}';
import {
  type Call,
  DeviceUnavailable,
  type Driver,
  type DriverContext,
  type Point,
  ProtocolError,
  type Reading,
} from '${imports.sdk}';
import type { ${pascal}Config, ${pascal}Visitor } from './schema.js';

export type ${pascal}Point = Point<${pascal}Visitor>;

/** What a stub throws until it is written: the conformance suite's failures name what is left to do. */
function todo(method: string, point?: ${pascal}Point): ProtocolError {
  const where = point ? \` (property \${point.name} at \${point.visitor.address})\` : '';
  return new ProtocolError(\`TODO: implement \${method} in ${sourceDir}/driver.ts\${where}\`);
}

/**
 * Talks ${protocol} to one device: connect, read, write, close, nothing else. The device runtime (edgetwin/sdk)
 * owns cycles, deadlines, retries, reconnects and the device state, and tells outcomes apart by what is thrown:
 * \`ProtocolTimeout\` (no answer within \`call.timeoutMs\`; \`timed(call, what, promise)\` does this for a
 * promise), \`DeviceUnavailable\` (no connection: the runtime reconnects), \`ProtocolError\` (the device said no).
 * Calls never overlap; each call's \`signal\` aborts at its deadline or when the device stops.
 */
export class ${pascal}Driver implements Driver<${pascal}Config, ${pascal}Visitor> {
  private closed = false;

  constructor(private readonly context: DriverContext) {}

  async connect(config: ${pascal}Config, call: Call): Promise<void> {
    call.signal.throwIfAborted();
    this.context.log.debug({ host: config.host, port: config.port }, 'connecting');
    // TODO: open the connection to config.host:config.port and resolve once the device can be asked; reject with
    // DeviceUnavailable when it cannot be reached. Devices sharing one endpoint share one connection:
    // this.context.connections.acquire(key, { settings, open, close }). A connection that drops between requests
    // is reported with this.context.lost(error).
    throw todo('connect');
  }

  async read(point: ${pascal}Point, call: Call): Promise<Reading> {
    this.ensureOpen();
    call.signal.throwIfAborted();
    // TODO: ask the device for point.visitor.address and decode the answer to point.property.type: a number for
    // INT, FLOAT and DOUBLE (an integer for INT), a boolean for BOOLEAN, a string otherwise. Then
    // return { value, quality: 'good', timestamp: Date.now() };
    throw todo('read', point);
  }

  /**
   * Several points in as few requests as the protocol allows: one result per point, in order, a Reading or the
   * Error of that point. TODO: implement it, or delete it if the protocol reads one value per request (the
   * runtime then calls read for each point, and the conformance suite skips its batch case).
   */
  async readMany(points: ${pascal}Point[], call: Call): Promise<(Reading | Error)[]> {
    this.ensureOpen();
    call.signal.throwIfAborted();
    throw todo('readMany', points[0]);
  }

  async write(point: ${pascal}Point, value: TwinValue, call: Call): Promise<void> {
    this.ensureOpen();
    call.signal.throwIfAborted();
    // TODO: encode value (already of point.property.type, and within the model's minimum and maximum) and write it
    // to point.visitor.address; resolve once the device has taken it.
    this.context.log.debug({ property: point.name, value }, 'writing');
    throw todo('write', point);
  }

  /** Releases the connection (or this device's hold on a shared one); safe to call twice. */
  async close(): Promise<void> {
    // TODO: close the connection opened by connect, and stop any timer or listener of it.
    this.closed = true;
  }

  private ensureOpen(): void {
    if (this.closed) throw new DeviceUnavailable('${protocol}: the driver is closed');
  }
}
`;
}
