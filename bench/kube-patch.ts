import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from '@kubernetes/client-node';
import { CloudCore } from '../cloudcore/cloudcore.js';
import { CloudPki } from '../cloudcore/pki.js';
import { loadSampleDevice, type ModbusConfig, type ModbusVisitor } from '../device-models/internal.js';
import { edgeConfig, loadEdgeConfig } from '../edgecore/config.js';
import { EdgeCore } from '../edgecore/edgecore.js';
import { joinCloud } from '../edgecore/join.js';
import { createModbusSimulator } from '../mappers/modbus/simulator.js';
import { startCluster } from '../test/k8s/cluster.js';
import { waitFor } from '../test/support/wait-for.js';

const GROUP = { group: 'devices.kubeedge.io', version: 'v1beta1', namespace: 'default' };

/**
 * A desired value patched into a Device (the merge patch `kubectl patch --type merge` sends) until the
 * simulator's holding register is written: API server → watch → cloudcore → WebSocket → edge twin → Modbus.
 * The floor beside it: the same patch until a plain client-node Watch sees the event (what any controller
 * waits for before it can act).
 */
export async function benchKubePatch(rounds = 40): Promise<string[]> {
  let cluster: Awaited<ReturnType<typeof startCluster>>;
  try {
    cluster = await startCluster();
  } catch (error) {
    return [`kubectl patch → register: skipped (${(error as Error).message.replaceAll('\n', ' | ')})`];
  }
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-bench-k8s-'));
  const stops: (() => Promise<unknown>)[] = [];
  try {
    await cluster.installCrds();
    const device = await loadSampleDevice<ModbusConfig, ModbusVisitor>('thermostat-01');
    const simulator = createModbusSimulator(device, { transport: { kind: 'tcp', port: 0 } });
    const { port } = await simulator.start();
    stops.push(() => simulator.stop());

    const cloud = new CloudCore({
      kubeconfig: cluster.kubeconfig,
      pkiDir: join(dir, 'pki'),
      host: '127.0.0.1',
      port: 0,
      statusIntervalMs: 200,
    });
    await cloud.start();
    stops.push(() => cloud.stop());
    const pki = await CloudPki.open(join(dir, 'pki'));
    const configFile = join(dir, 'edge.yaml');
    await joinCloud({
      cloud: cloud.url,
      token: await pki.issueToken(600),
      nodeName: 'bench-node',
      dataDir: dir,
      configFile,
    });
    const config = await loadEdgeConfig(configFile);
    const edge = new EdgeCore({
      config: edgeConfig({
        ...config,
        eventBus: { internal: { port: 0 } },
        http: { port: 0 },
        devices: { dirs: [] },
      }),
    });
    await edge.start();
    stops.push(() => edge.stop());

    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const api = kc.makeApiClient(CustomObjectsApi);
    const body = {
      ...device.device,
      spec: {
        ...device.device.spec,
        nodeName: 'bench-node',
        protocol: { ...device.device.spec.protocol, configData: { ...device.config, port } },
      },
    };
    await api.createNamespacedCustomObject({ ...GROUP, plural: 'devicemodels', body: device.model });
    await api.createNamespacedCustomObject({ ...GROUP, plural: 'devices', body });
    await waitFor(
      'the device at the edge',
      () => edge.twinModule?.twins(device.id)?.temperature?.actual,
      30_000,
    );

    const events: number[] = [];
    const watch = await new Watch(kc).watch(
      `/apis/${GROUP.group}/${GROUP.version}/namespaces/default/devices`,
      {},
      () => events.push(performance.now()),
      () => {},
    );
    const patch = (value: string) =>
      api.patchNamespacedCustomObject(
        {
          ...GROUP,
          plural: 'devices',
          name: device.name,
          body: {
            spec: {
              properties: (body.spec.properties ?? []).map((p) =>
                p.name === 'setpoint' ? { ...p, desired: { value } } : p,
              ),
            },
          },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    const toRegister: number[] = [];
    const toWatch: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const value = String(10 + (i % 20));
      const seen = events.length;
      const t0 = performance.now();
      await patch(value);
      await waitFor('the watch event', () => events.length > seen, 30_000, 1);
      toWatch.push(events[seen]! - t0);
      await waitFor('the register', () => simulator.written('setpoint') === Number(value), 30_000, 1);
      toRegister.push(performance.now() - t0);
    }
    watch.abort();
    const ours = percentiles(toRegister);
    const floor = percentiles(toWatch);
    return [
      `kubectl patch → holding register written (${rounds} patches): p50 ${ours.p50.toFixed(1)} ms, p99 ${ours.p99.toFixed(1)} ms`,
      `  same patch → plain Watch event (the floor): p50 ${floor.p50.toFixed(1)} ms, p99 ${floor.p99.toFixed(1)} ms; ours/floor p50 ${(ours.p50 / floor.p50).toFixed(1)}×`,
    ];
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function percentiles(samples: number[]): { p50: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { p50: at(0.5), p99: at(0.99) };
}
