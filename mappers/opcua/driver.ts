import type { EventEmitter } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import {
  AttributeIds,
  type ClientSession,
  type ClientSubscription,
  DataType,
  type DataValue,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  type StatusCode,
  TimestampsToReturn,
  type UserIdentityInfo,
  UserTokenType,
  Variant,
} from 'node-opcua-client';
import type { OpcuaConfig, OpcuaVisitor, TwinValue } from '../../device-models/index.js';
import {
  type Driver,
  type DriverContext,
  type Point,
  type Quality,
  type Reading,
  readOneOf,
} from '../../sdk/driver.js';
import { DeviceUnavailable, ProtocolError, ProtocolTimeout, ValueOutOfRange } from '../../sdk/errors.js';
import type { Logger } from '../../sdk/logger.js';
import { abortable, type Call, timed, withCall } from '../../sdk/runtime/call.js';
import { MODEL_DATA_TYPES } from './data-types.js';

type OpcuaPoint = Point<OpcuaVisitor>;

/** A request's timeout when the config gives none, ms. */
export const DEFAULT_TIMEOUT_MS = 5000;
/** Sampling interval when the point does not say (its collectCycle). */
export const SAMPLING_INTERVAL_MS = 1000;
/** Default client PKI folder (own certificate, trusted/rejected server certificates). */
export const DEFAULT_PKI_DIR = join(tmpdir(), 'edgetwin-opcua-pki');

const INTEGER_RANGES: Partial<Record<DataType, [number, number]>> = {
  [DataType.SByte]: [-128, 127],
  [DataType.Byte]: [0, 255],
  [DataType.Int16]: [-32768, 32767],
  [DataType.UInt16]: [0, 65535],
  [DataType.Int32]: [-2147483648, 2147483647],
  [DataType.UInt32]: [0, 4294967295],
  [DataType.Int64]: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  [DataType.UInt64]: [0, Number.MAX_SAFE_INTEGER],
};

function quality(status: StatusCode): Quality {
  const severity = status.value >>> 30;
  return severity === 0 ? 'good' : severity === 1 ? 'uncertain' : 'bad';
}

function statusError(what: string, status: StatusCode): ProtocolError {
  return new ProtocolError(`${what}: ${status.name} (${status.description})`, {
    exceptionCode: status.value,
  });
}

/** A Variant's value as a twin value; 64-bit integers arrive as [high, low] words. */
function twinValue(value: unknown, dataType: DataType): TwinValue {
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string') return value;
  if (
    Array.isArray(value) &&
    value.length === 2 &&
    (dataType === DataType.Int64 || dataType === DataType.UInt64)
  )
    return Number(value[0]) * 2 ** 32 + Number(value[1] >>> 0);
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Date) return value.toISOString();
  if (value === null || value === undefined) return '';
  return typeof value === 'object' && 'toString' in value ? String(value) : JSON.stringify(value);
}

function readingOf(point: OpcuaPoint, dataValue: DataValue): Reading | Error {
  const status = dataValue.statusCode;
  if (quality(status) === 'bad') return statusError(`read ${point.visitor.nodeID}`, status);
  return {
    value: twinValue(dataValue.value.value, dataValue.value.dataType),
    quality: quality(status),
    timestamp: (dataValue.sourceTimestamp ?? dataValue.serverTimestamp)?.getTime() ?? Date.now(),
  };
}

/** The connection is gone: node-opcua said so in a message (rather than with a status). */
const CONNECTION_GONE = /closed|disconnect|connection|channel|BadSession/i;

/**
 * OPC UA through node-opcua-client: one session per connect, batched reads in one Read service call,
 * monitored items on one subscription. node-opcua's own reconnection is turned off: a connection lost between
 * requests is reported to the runtime (`context.lost`), which reconnects.
 */
export class OpcuaDriver implements Driver<OpcuaConfig, OpcuaVisitor> {
  private readonly log: Logger;
  private client: OPCUAClient | undefined;
  private session: ClientSession | undefined;
  private subscription: Promise<ClientSubscription> | undefined;
  private certificates: OPCUACertificateManager | undefined;
  private readonly dataTypes = new Map<string, DataType>();
  /** What made the connection unusable, once it is. */
  private broken: DeviceUnavailable | undefined;
  /** How long close() waits for the session and the connection to close, ms. */
  private timeoutMs = DEFAULT_TIMEOUT_MS;

  private readonly pkiDir: string;

  /** `options.pkiDir`: the client PKI folder, created on first use; default DEFAULT_PKI_DIR. */
  constructor(
    private readonly context: DriverContext,
    options: { pkiDir?: string } = {},
  ) {
    this.log = context.log.child({ mapper: 'opcua' });
    this.pkiDir = options.pkiDir ?? DEFAULT_PKI_DIR;
  }

  /** Connecting includes the first-run certificate generation: it runs to the call's deadline. */
  async connect(config: OpcuaConfig, call: Call): Promise<void> {
    await this.release();
    this.broken = undefined;
    this.timeoutMs = call.timeoutMs;
    const certificates = new OPCUACertificateManager({
      rootFolder: this.pkiDir,
      automaticallyAcceptUnknownCertificate: true,
    });
    this.certificates = certificates;
    const client = OPCUAClient.create({
      applicationName: 'edgetwin',
      endpointMustExist: false,
      securityMode: MessageSecurityMode[config.securityMode ?? 'None'],
      securityPolicy: SecurityPolicy[config.securityPolicy ?? 'None'],
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
      requestedSessionTimeout: Math.max(60_000, this.timeoutMs * 10),
      clientCertificateManager: certificates,
      ...(config.certificate !== undefined && { certificateFile: config.certificate }),
      ...(config.privateKey !== undefined && { privateKeyFile: config.privateKey }),
    });
    this.client = client;
    const events = client as unknown as EventEmitter;
    events.on('connection_lost', () => this.lose(client, `OPC UA connection to ${config.url} lost`));
    events.on('close', () => this.lose(client, `OPC UA connection to ${config.url} closed`));
    const identity: UserIdentityInfo =
      config.userName !== undefined
        ? { type: UserTokenType.UserName, userName: config.userName, password: config.password ?? '' }
        : { type: UserTokenType.Anonymous };
    let session: ClientSession;
    try {
      session = await abortable(
        (async () => {
          await client.connect(config.url);
          return client.createSession(identity);
        })(),
        call.signal,
      );
    } catch (err) {
      await this.release();
      if (err instanceof ProtocolTimeout || err instanceof DeviceUnavailable) throw err;
      const message = err instanceof Error ? err.message : String(err);
      if (/BadUserAccessDenied|BadIdentityToken|denied|rejected/i.test(message))
        throw new ProtocolError(`OPC UA session refused at ${config.url}: ${message}`, { cause: err });
      throw new DeviceUnavailable(`cannot reach OPC UA server ${config.url}: ${message}`, { cause: err });
    }
    this.session = session;
    (session as unknown as EventEmitter).on('session_closed', () => {
      if (this.session === session) this.lose(client, `OPC UA session at ${config.url} closed`);
    });
    this.log.debug({ url: config.url }, 'OPC UA session open');
  }

  read(point: OpcuaPoint, call: Call): Promise<Reading> {
    return readOneOf(this, point, call);
  }

  /** One Read service call for all points. */
  async readMany(points: OpcuaPoint[], call: Call): Promise<(Reading | Error)[]> {
    const session = this.open();
    const nodesToRead = points.map((p) => ({ nodeId: p.visitor.nodeID, attributeId: AttributeIds.Value }));
    const values = await this.request('read', session.read(nodesToRead, 0), call);
    return points.map((point, i) => {
      const value = values[i];
      return value ? readingOf(point, value) : new ProtocolError(`no result for ${point.visitor.nodeID}`);
    });
  }

  async write(point: OpcuaPoint, value: TwinValue, call: Call): Promise<void> {
    const session = this.open();
    const dataType = await this.dataTypeOf(session, point, call);
    const variant = variantOf(point, dataType, value);
    const status = await this.request(
      'write',
      session.write({
        nodeId: point.visitor.nodeID,
        attributeId: AttributeIds.Value,
        value: { value: variant },
      }),
      call,
    );
    if (quality(status) !== 'good') throw statusError(`write ${point.visitor.nodeID}`, status);
  }

  async subscribe(
    point: OpcuaPoint,
    onValue: (reading: Reading) => void,
    call: Call,
  ): Promise<() => Promise<void>> {
    const session = this.open();
    this.subscription ??= session.createSubscription2({
      requestedPublishingInterval: point.collectCycle ?? SAMPLING_INTERVAL_MS,
      requestedLifetimeCount: 100,
      requestedMaxKeepAliveCount: 10,
      maxNotificationsPerPublish: 0,
      publishingEnabled: true,
      priority: 1,
    });
    const subscription = await this.request('subscribe', this.subscription, call);
    const item = await this.request(
      'monitor',
      subscription.monitor(
        { nodeId: point.visitor.nodeID, attributeId: AttributeIds.Value },
        { samplingInterval: point.collectCycle ?? SAMPLING_INTERVAL_MS, discardOldest: true, queueSize: 1 },
        TimestampsToReturn.Both,
      ),
      call,
    );
    item.on('changed', (dataValue: DataValue) => {
      const reading = readingOf(point, dataValue);
      if (reading instanceof Error)
        this.log.debug({ err: reading, point: point.name }, 'bad monitored value');
      else onValue(reading);
    });
    return async () => {
      if (this.session === session)
        await withCall(this.timeoutMs, 'stop monitoring', () => item.terminate()).catch(() => {});
    };
  }

  async close(): Promise<void> {
    await this.release();
  }

  private open(): ClientSession {
    if (this.broken) throw this.broken;
    if (!this.session) throw new DeviceUnavailable('OPC UA driver is not connected');
    return this.session;
  }

  /** The connection of `client` went away after connect: later calls fail, and the runtime is told. */
  private lose(client: OPCUAClient, why: string): void {
    if (this.client !== client || !this.session || this.broken) return;
    this.log.warn(why);
    this.broken = new DeviceUnavailable(why);
    this.context.lost(this.broken);
  }

  /**
   * One request with the call's timeout. node-opcua's errors become ours: a timeout is a ProtocolTimeout,
   * anything else thrown is a DeviceUnavailable (a Bad status comes back as a value, not thrown), and one that
   * speaks of the connection fails every later call too, until the runtime reconnects.
   */
  private async request<T>(what: string, work: Promise<T>, call: Call): Promise<T> {
    try {
      return await timed(call, `OPC UA ${what}`, work);
    } catch (err) {
      if (err instanceof ProtocolTimeout || err instanceof ProtocolError || err instanceof DeviceUnavailable)
        throw err;
      const message = err instanceof Error ? err.message : String(err);
      if (/timeout|timed out/i.test(message))
        throw new ProtocolTimeout(`OPC UA ${what}: ${message}`, { cause: err });
      const error = new DeviceUnavailable(`OPC UA ${what}: ${message}`, { cause: err });
      if (CONNECTION_GONE.test(message)) this.broken ??= error;
      throw error;
    }
  }

  /** The node's DataType, read once; the model's type when the node's is not a built-in type. */
  private async dataTypeOf(session: ClientSession, point: OpcuaPoint, call: Call): Promise<DataType> {
    const known = this.dataTypes.get(point.visitor.nodeID);
    if (known !== undefined) return known;
    const fallback = MODEL_DATA_TYPES[point.property.type];
    const dataValue = await this.request(
      'read DataType',
      session.read({ nodeId: point.visitor.nodeID, attributeId: AttributeIds.DataType }),
      call,
    );
    let dataType = fallback;
    const id = dataValue.value.value as { namespace?: number; value?: unknown } | null;
    if (quality(dataValue.statusCode) === 'good' && id?.namespace === 0 && typeof id.value === 'number')
      if (id.value >= 1 && id.value <= 25 && DataType[id.value] !== undefined)
        dataType = id.value as DataType;
    this.dataTypes.set(point.visitor.nodeID, dataType);
    return dataType;
  }

  private async release(): Promise<void> {
    const { client, session, certificates } = this;
    this.client = undefined;
    this.session = undefined;
    this.subscription = undefined;
    this.certificates = undefined;
    this.dataTypes.clear();
    if (session) await withCall(this.timeoutMs, 'close session', () => session.close(true)).catch(() => {});
    if (client) await withCall(this.timeoutMs, 'disconnect', () => client.disconnect()).catch(() => {});
    if (certificates) await certificates.dispose().catch(() => {});
  }
}

/** The value as the node's DataType; ValueOutOfRange when that type cannot hold it (an Int16 and 40000). */
function variantOf(point: OpcuaPoint, dataType: DataType, value: TwinValue): Variant {
  const range = INTEGER_RANGES[dataType];
  let raw: unknown = value;
  if (range) {
    const n = Number(value);
    if (!Number.isInteger(n) || n < range[0] || n > range[1])
      throw new ValueOutOfRange(`${point.name}: ${value} does not fit ${DataType[dataType]}`);
    raw = n;
  } else if (dataType === DataType.Float || dataType === DataType.Double) {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new ValueOutOfRange(`${point.name}: ${value} is not a finite number`);
    if (dataType === DataType.Float && Math.abs(n) > 3.4028234663852886e38)
      throw new ValueOutOfRange(`${point.name}: ${value} does not fit Float`);
    raw = n;
  } else if (dataType === DataType.Boolean) raw = value === true || value === 'true' || value === 1;
  else if (dataType === DataType.String) raw = String(value);
  return new Variant({ dataType, value: raw });
}
