import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import type { ResolvedDevice } from '../../device-models/index.js';
import { loadSampleDevice, type OpcuaConfig, type OpcuaVisitor } from '../../device-models/index.js';
import type { ProtocolMapper } from '../../sdk/driver.js';
import { describeConformance } from '../../sdk/testing/index.js';
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
const mapper: ProtocolMapper<typeof opcuaMapper.schemas.config, typeof opcuaMapper.schemas.visitor> = {
  ...opcuaMapper,
  createDriver: (context) => new OpcuaDriver(context, { pkiDir: join(pkiDir, 'client') }),
};

function conformance(name: string, security: Partial<OpcuaConfig>, options: OpcuaSimulatorOptions = {}) {
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
  });
}

conformance('security None', {});
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
