import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import { AttributeIds, type ClientSession, OPCUAClient, TimestampsToReturn } from 'node-opcua-client';
import {
  loadDevices,
  type OpcuaConfig,
  type OpcuaVisitor,
  type ResolvedDevice,
  samplesDir,
} from '../device-models/internal.js';
import { OpcuaDriver } from '../mappers/opcua/driver.js';
import { createOpcuaSimulator } from '../mappers/opcua/simulator.js';
import type { Call, Point } from '../sdk/internal.js';
import { deadline } from '../sdk/internal.js';
import { driverContext } from '../sdk/testing/driver-context.js';

/**
 * OPC UA values/s on the sample tank's simulator, ours against node-opcua's raw client in the same run:
 * polling (the driver's one Read for all points vs raw one read per node) and subscriptions (10 ms sampling).
 */
type Tank = ResolvedDevice<OpcuaConfig, OpcuaVisitor>;

async function rate(seconds: number, values: number, op: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < seconds * 1000) {
    await op();
    n++;
  }
  return (n * values) / ((performance.now() - start) / 1000);
}

/** Notifications per second received on `count` monitored items sampled every 10 ms. */
async function notifications(
  seconds: number,
  subscribe: (onValue: () => void) => Promise<() => Promise<void>>,
) {
  let n = 0;
  const stop = await subscribe(() => n++);
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const result = n / ((performance.now() - start) / 1000);
  await stop();
  return result;
}

export async function benchOpcua(seconds = 3): Promise<string[]> {
  const tank = (await loadDevices([join(samplesDir(), 'opcua-tank.yaml')])).devices[0] as Tank;
  const simulator = createOpcuaSimulator(tank);
  const { url } = await simulator.start();
  const pki = await mkdtemp(join(tmpdir(), 'edgetwin-bench-pki-'));
  const lines: string[] = [];
  try {
    const points: Point<OpcuaVisitor>[] = tank.properties.map((p) => ({
      name: p.name,
      visitor: p.visitor,
      property: p.model,
      collectCycle: 10,
    }));
    const driver = new OpcuaDriver(driverContext(), { pkiDir: join(pki, 'driver') });
    const timeoutMs = tank.config.timeout ?? 5000;
    /** What the runtime gives each call: the config's request timeout within a deadline of a few. */
    const call = (): Call => ({ ...deadline(timeoutMs * 4), timeoutMs });
    await driver.connect({ ...tank.config, url: url! }, { ...deadline(30_000), timeoutMs });
    const manager = new OPCUACertificateManager({
      rootFolder: join(pki, 'raw'),
      automaticallyAcceptUnknownCertificate: true,
    });
    const client = OPCUAClient.create({ endpointMustExist: false, clientCertificateManager: manager });
    await client.connect(url!);
    const session: ClientSession = await client.createSession();
    const nodes = points.map((p) => ({ nodeId: p.visitor.nodeID, attributeId: AttributeIds.Value }));

    const raw = await rate(seconds, nodes.length, async () => {
      for (const node of nodes) await session.read(node);
    });
    const ours = await rate(seconds, points.length, () => driver.readMany(points, call()));
    lines.push(
      `OPC UA polling, ${points.length} properties: raw node-opcua one read per node ${raw.toFixed(0)} values/s, edgetwin batched Read ${ours.toFixed(0)} values/s, ratio ${(ours / raw).toFixed(2)}`,
    );

    const rawSub = await notifications(seconds, async (onValue) => {
      const subscription = await session.createSubscription2({
        requestedPublishingInterval: 10,
        requestedMaxKeepAliveCount: 10,
        requestedLifetimeCount: 100,
        publishingEnabled: true,
      });
      for (const node of nodes) {
        const item = await subscription.monitor(
          node,
          { samplingInterval: 10, queueSize: 1, discardOldest: true },
          TimestampsToReturn.Both,
        );
        item.on('changed', onValue);
      }
      return async () => {
        await subscription.terminate();
      };
    });
    const ourSub = await notifications(seconds, async (onValue) => {
      const stops = await Promise.all(points.map((p) => driver.subscribe(p, onValue, call())));
      return async () => {
        for (const stop of stops) await stop();
      };
    });
    lines.push(
      `OPC UA subscriptions, ${points.length} monitored items at 10 ms: raw node-opcua ${rawSub.toFixed(0)} values/s, edgetwin ${ourSub.toFixed(0)} values/s, ratio ${(ourSub / rawSub).toFixed(2)}`,
    );
    await session.close();
    await client.disconnect();
    await driver.close();
  } finally {
    await simulator.stop();
    await rm(pki, { recursive: true, force: true });
  }
  return lines;
}
