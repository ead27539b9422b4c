import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import { DataValue, StatusCodes, Variant } from 'node-opcua-client';
import { OPCUAServer } from 'node-opcua-server';
import {
  type OpcuaConfig,
  type OpcuaVisitor,
  parseTwinValue,
  type ResolvedDevice,
  type ResolvedProperty,
  type TwinValue,
} from '../../device-models/index.js';
import { type Logger, silentLogger } from '../../sdk/logger.js';
import { MODEL_DATA_TYPES } from './data-types.js';

export interface OpcuaSimulatorOptions {
  /** TCP port; default a free one (a restart of the same simulator reuses the port it had). */
  port?: number;
  /** When given, anonymous sessions are refused and only this user/password is accepted. */
  userName?: string;
  password?: string;
  /** PKI folder of the server (kept); default a temporary folder removed at stop(). */
  pkiDir?: string;
  /** Seeds the waveforms of ReadOnly properties (default 0). */
  seed?: number;
  log?: Logger;
  /** Clock in ms (default Date.now): ReadOnly values are computed from the time elapsed since creation. */
  now?: () => number;
}

export interface OpcuaFaults {
  /** Reads of values never answer (until cleared); the client times out. */
  silent: boolean;
  /** Writes are answered with BadNotWritable. */
  rejectWrites: boolean;
}

export interface OpcuaSimulator {
  /** Starts serving (again, after stop(), on the same port); resolves to `{ url }`. */
  start(): Promise<Partial<OpcuaConfig>>;
  /** Stops serving; safe to call twice. */
  stop(): Promise<void>;
  faults: OpcuaFaults;
  /** Service requests received, by type name (e.g. 'ReadRequest'), in order. */
  readonly requests: string[];
  /** The last value a client wrote to the property. */
  written(property: string): TwinValue | undefined;
  /** Test control: fixes the property's value (a ReadOnly property stops moving). */
  set(property: string, value: TwinValue): void;
  /** The property's current value. */
  get(property: string): TwinValue;
}

/** `ns=1;s=Tank.Level` → `s=Tank.Level`; only namespace 1 (the server's own) is served. */
function ownNodeId(nodeID: string): string {
  const match = /^(?:ns=(\d+);)?([isgb]=.+)$/.exec(nodeID);
  if (!match || (match[1] ?? '0') !== '1')
    throw new Error(`the OPC UA simulator serves namespace 1 only, not ${nodeID}`);
  return `ns=1;${match[2]}`;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/** A deterministic waveform for a ReadOnly property, from the elapsed time and the seed. */
function wave(property: ResolvedProperty<OpcuaVisitor>, index: number, seed: number, ms: number): TwinValue {
  const { type, minimum, maximum } = property.model;
  const phase = seed * 0.7 + index * 1.3;
  const t = ms / 1000;
  if (type === 'BOOLEAN') return Math.floor(t / 2 + phase) % 2 === 0;
  if (type === 'STRING') return `${property.name}-${Math.floor(t)}`;
  const lo = minimum !== undefined ? Number(minimum) : 0;
  const hi = maximum !== undefined ? Number(maximum) : lo + 100;
  const value = lo + ((hi - lo) * (1 + Math.sin((2 * Math.PI * t) / 10 + phase))) / 2;
  if (type === 'INT') return Math.round(value);
  return type === 'FLOAT' ? Math.fround(value) : value;
}

function initialValue(property: ResolvedProperty<OpcuaVisitor>): TwinValue {
  const { type, minimum } = property.model;
  if (property.desired !== undefined) {
    const parsed = parseTwinValue(type, property.desired);
    if (parsed.ok) return parsed.value;
  }
  if (type === 'BOOLEAN') return false;
  if (type === 'STRING') return '';
  return minimum !== undefined ? Number(minimum) : 0;
}

/**
 * An OPC UA server (node-opcua) exposing exactly the Device's nodeIDs with the model's types: ReadOnly
 * properties move along seeded waveforms computed on read, writable ones keep what is written.
 */
export function createOpcuaSimulator(
  device: ResolvedDevice<OpcuaConfig, OpcuaVisitor>,
  options: OpcuaSimulatorOptions = {},
): OpcuaSimulator {
  const log = (options.log ?? silentLogger).child({ simulator: 'opcua', device: device.id });
  const now = options.now ?? Date.now;
  const seed = options.seed ?? 0;
  const born = now();
  const fixed = new Map<string, TwinValue>();
  const writes = new Map<string, TwinValue>();
  const requests: string[] = [];
  const parked: (() => void)[] = [];
  let silent = false;
  let port = options.port;
  let server: OPCUAServer | undefined;
  let managers: OPCUACertificateManager[] = [];
  let ownPki: string | undefined;

  for (const p of device.properties)
    if (p.model.accessMode !== 'ReadOnly') fixed.set(p.name, initialValue(p));

  const byName = (name: string) => {
    const index = device.properties.findIndex((p) => p.name === name);
    const property = device.properties[index];
    if (!property) throw new Error(`no property ${name} on ${device.id}`);
    return { property, index };
  };
  const currentValue = (name: string): TwinValue => {
    const { property, index } = byName(name);
    return fixed.get(name) ?? wave(property, index, seed, now() - born);
  };
  const release = () => {
    for (const resume of parked.splice(0)) resume();
  };

  const faults: OpcuaFaults = {
    get silent() {
      return silent;
    },
    set silent(value: boolean) {
      silent = value;
      if (!value) release();
    },
    rejectWrites: false,
  };

  async function build(pki: string): Promise<OPCUAServer> {
    const serverCertificateManager = new OPCUACertificateManager({
      rootFolder: join(pki, 'server'),
      automaticallyAcceptUnknownCertificate: true,
    });
    const userCertificateManager = new OPCUACertificateManager({
      rootFolder: join(pki, 'user'),
      automaticallyAcceptUnknownCertificate: true,
    });
    managers = [serverCertificateManager, userCertificateManager];
    const { userName, password } = options;
    const opcua = new OPCUAServer({
      port,
      host: '127.0.0.1',
      hostname: '127.0.0.1',
      resourcePath: '/edgetwin',
      serverCertificateManager,
      userCertificateManager,
      allowAnonymous: userName === undefined,
      ...(userName !== undefined && {
        userManager: { isValidUser: (user: string, pass: string) => user === userName && pass === password },
      }),
      buildInfo: { productName: 'edgetwin OPC UA simulator' },
    });
    await opcua.initialize();
    const addressSpace = opcua.engine.addressSpace;
    if (!addressSpace) throw new Error('OPC UA server has no address space');
    const namespace = addressSpace.getOwnNamespace();
    const folder = namespace.addObject({
      organizedBy: addressSpace.rootFolder.objects,
      browseName: device.name,
    });
    for (const property of device.properties) {
      const { name, model, visitor } = property;
      const dataType = MODEL_DATA_TYPES[model.type];
      const writable = model.accessMode !== 'ReadOnly';
      const variable = namespace.addVariable({
        componentOf: folder,
        browseName: visitor.browseName ?? name,
        nodeId: ownNodeId(visitor.nodeID),
        dataType,
        accessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
        userAccessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
        minimumSamplingInterval: 50,
      });
      const current = () =>
        new DataValue({
          value: new Variant({ dataType, value: currentValue(name) }),
          statusCode: StatusCodes.Good,
          sourceTimestamp: new Date(),
        });
      const bind = variable.bindVariable.bind(variable) as (options: object, overwrite: boolean) => void;
      bind(
        {
          timestamped_get: () =>
            silent ? new Promise<DataValue>((resolve) => parked.push(() => resolve(current()))) : current(),
          ...(writable && {
            set: (variant: Variant) => {
              if (faults.rejectWrites) return StatusCodes.BadNotWritable;
              const value = variant.value as TwinValue;
              fixed.set(name, value);
              writes.set(name, value);
              return StatusCodes.Good;
            },
          }),
        },
        true,
      );
    }
    opcua.on('request', (request: { schema?: { name?: string }; constructor: { name: string } }) => {
      requests.push(request.schema?.name ?? request.constructor.name);
    });
    return opcua;
  }

  return {
    faults,
    requests,
    written: (property) => writes.get(property),
    set(property, value) {
      byName(property);
      fixed.set(property, value);
    },
    get: currentValue,
    async start() {
      if (server) throw new Error('the OPC UA simulator is already running');
      port ??= await freePort();
      let pki = options.pkiDir;
      if (pki === undefined) {
        ownPki = await mkdtemp(join(tmpdir(), 'edgetwin-opcua-sim-'));
        pki = ownPki;
      }
      const opcua = await build(pki);
      await opcua.start();
      server = opcua;
      const url = `opc.tcp://127.0.0.1:${port}/edgetwin`;
      log.debug({ url }, 'OPC UA simulator started');
      return { url };
    },
    async stop() {
      const opcua = server;
      server = undefined;
      release();
      if (opcua) await opcua.shutdown(0);
      for (const manager of managers.splice(0)) await manager.dispose();
      if (ownPki !== undefined) {
        await rm(ownPki, { recursive: true, force: true });
        ownPki = undefined;
      }
    },
  };
}
