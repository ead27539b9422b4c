import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import type { ModelProperty, ResolvedDevice, ResolvedProperty } from '../../device-models/internal.js';
import { loadSampleDevice, type OpcuaConfig, type OpcuaVisitor } from '../../device-models/internal.js';
import type { ProtocolMapper } from '../../sdk/driver.js';
import type { TypedWrites } from '../../sdk/testing/conformance.js';
import { describeConformance } from '../../sdk/testing/index.js';
import { resolvedDevice } from '../../sdk/testing/resolved-device.js';
import { OpcuaDriver, opcuaMapper } from './index.js';
import { createOpcuaSimulator, type OpcuaSimulatorOptions } from './simulator.js';

const sampleTank = () => loadSampleDevice<OpcuaConfig, OpcuaVisitor>('tank-01');

/**
 * The conformance suite on the sample tank as shipped: security None, then SignAndEncrypt with
 * Basic256Sha256 and a user/password. Server and client PKI live in a temporary folder.
 */

const TIMEOUT_MS = 500;
const device = await sampleTank();
const pkiDir = await mkdtemp(join(tmpdir(), 'edgetwin-opcua-conf-'));
afterAll(async () => {
  await rm(pkiDir, { recursive: true, force: true });
});

/** The shipped mapper, its driver given the test's client PKI folder. */
const mapper: ProtocolMapper<
  typeof opcuaMapper.schemas.configSchema,
  typeof opcuaMapper.schemas.visitorSchema
> = {
  ...opcuaMapper,
  createDriver: (context) => new OpcuaDriver(context, { pkiDir: join(pkiDir, 'client') }),
};

const NO_SHARED_LINE =
  'OPC UA: every device opens its own session to its server; the driver shares no connection between devices';

function variable(name: string, type: ModelProperty['type']): ResolvedProperty<OpcuaVisitor> {
  return {
    name,
    model: { name, type, accessMode: 'ReadWrite' },
    visitor: { nodeID: `ns=1;s=Typed.${name}` },
    collectCycle: 1000,
    reportCycle: 1000,
    reportToCloud: false,
  };
}

/** One variable per model type, each served with the DataType the simulator gives that type. */
const typedDevice = resolvedDevice<OpcuaConfig, OpcuaVisitor>({
  name: 'opcua-typed',
  protocol: 'opcua',
  config: { url: 'opc.tcp://127.0.0.1:4840/edgetwin' },
  properties: [
    variable('Int32', 'INT'),
    variable('Float', 'FLOAT'),
    variable('Double', 'DOUBLE'),
    variable('Boolean', 'BOOLEAN'),
    variable('String', 'STRING'),
  ],
});

function typedWrites(): TypedWrites {
  const simulator = createOpcuaSimulator(typedDevice, { pkiDir: join(pkiDir, 'server-typed') });
  afterAll(() => simulator.stop());
  return {
    device: typedDevice as ResolvedDevice,
    async startSimulator() {
      const reached = await simulator.start();
      return { config: { ...reached, timeout: TIMEOUT_MS }, stop: () => simulator.stop() };
    },
    writes: [
      { property: 'Int32', value: -2_000_000_000, refuses: [3_000_000_000] },
      // A Float holds 24 bits of mantissa: 2^24 + 1 becomes 2^24.
      { property: 'Float', value: 21.7, inexact: { value: 16_777_217, holds: 16_777_216 }, refuses: [1e39] },
      { property: 'Double', value: Math.PI },
      { property: 'Boolean', value: true },
      { property: 'String', value: 'edgetwin conformance' },
    ],
  };
}

function conformance(
  name: string,
  security: Partial<OpcuaConfig>,
  options: OpcuaSimulatorOptions = {},
  typed = false,
) {
  // One simulator per run, restarted on the same port after stop().
  const simulator = createOpcuaSimulator(device, { seed: 1, pkiDir: join(pkiDir, 'server'), ...options });
  afterAll(() => simulator.stop());
  describeConformance({
    name: `opcua, ${name} (sample ${device.name})`,
    mapper: mapper as never,
    device: device as ResolvedDevice,
    timeoutMs: TIMEOUT_MS,
    async startSimulator() {
      const reached = await simulator.start();
      return { config: { ...security, ...reached, timeout: TIMEOUT_MS }, stop: () => simulator.stop() };
    },
    setSilent(silent) {
      simulator.faults.silent = silent;
    },
    ...(typed
      ? { typedWrites: typedWrites(), unsupported: { sharedLine: NO_SHARED_LINE } }
      : {
          unsupported: { sharedLine: NO_SHARED_LINE, typedWrites: 'exercised on the security None run' },
        }),
  });
}

conformance('security None', {}, {}, true);
conformance(
  'SignAndEncrypt Basic256Sha256 with user/password',
  {
    securityMode: 'SignAndEncrypt',
    securityPolicy: 'Basic256Sha256',
    userName: 'operator',
    password: 'tank',
  },
  { userName: 'operator', password: 'tank' },
);
