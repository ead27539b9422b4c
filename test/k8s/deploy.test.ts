import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { CloudCore } from '../../cloudcore/cloudcore.js';
import { CloudPki } from '../../cloudcore/pki.js';
import { type HubMessage, hubMessage, hubResources } from '../../device-models/internal.js';
import { joinCloud } from '../../edgecore/join.js';
import { type Logger, silentLogger } from '../../sdk/logger.js';
import { connectNode } from '../support/hub-connect.js';
import { waitFor } from '../support/wait-for.js';
import { type Cluster, startCluster } from './cluster.js';

/**
 * deploy/kubernetes, the kustomize base for cloudcore: rendered by the test cluster's own kubectl (1.20, whose
 * built-in kustomize, v2.0.3, is the oldest a user may have), accepted by a real kube-apiserver with
 * `kubectl apply --dry-run=server`, its RBAC exactly what deploy/kubernetes/permissions.yaml lists (checked with
 * `kubectl auth can-i` too), and enough: a real cloudcore, authenticated as the base's ServiceAccount and nothing
 * else, serves a node, writes a Device's status in another namespace, leads, collects garbage, writes Events and
 * keeps its join ledger and Leases, without a 403; the dashboard's extra grants are needed and enough; and
 * `edgetwin cloud` starts with the Deployment's arguments, answers its probe and stops on SIGTERM.
 */

const root = new URL('../../', import.meta.url).pathname;
const base = join(root, 'deploy/kubernetes');
/** The CLI as built (`npm test` builds first). */
const cli = join(root, 'dist/edgecore/cli/main.js');
const NAMESPACE = 'edgetwin';
const SERVICE_ACCOUNT = 'edgetwin-cloudcore';
const AS = `system:serviceaccount:${NAMESPACE}:${SERVICE_ACCOUNT}`;
const DEVICES = 'devices.kubeedge.io';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: manifests are read as plain data and checked field by field
  [field: string]: any;
}

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** One line of permissions.yaml: a resource of an API group, and the verbs cloudcore uses on it. */
interface Permission {
  group: string;
  resource: string;
  verbs: string[];
  resourceNames?: string[];
  by: string;
  why: string;
}

/** The base's ClusterRole and Role, then one list per directory of extras/ (its name in camel case). */
type Permissions = Record<string, Permission[]> & Record<'cluster' | 'namespace', Permission[]>;

const permissions = parse(readFileSync(join(base, 'permissions.yaml'), 'utf8')) as Permissions;
/** extras/<kebab-case>/, a kustomization of its own, for every list of permissions.yaml beyond the base's two. */
const extras = Object.keys(permissions)
  .filter((section) => section !== 'cluster' && section !== 'namespace')
  .map((section) => ({
    section,
    dir: `extras/${section.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
  }));

const documents = (text: string): K8sObject[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);

/** `group/resource verb` (with `[names]` when restricted to some objects), one per granted action. */
const grantsOfRules = (rules: PolicyRule[]): string[] =>
  rules
    .flatMap((r) =>
      (r.apiGroups ?? []).flatMap((g) =>
        (r.resources ?? []).flatMap((res) =>
          r.verbs.map((v) => `${g}/${res} ${v}${r.resourceNames ? ` [${[...r.resourceNames].sort()}]` : ''}`),
        ),
      ),
    )
    .sort();
const grantsOfPermissions = (list: Permission[]): string[] =>
  grantsOfRules(
    list.map((p) => ({
      apiGroups: [p.group],
      resources: [p.resource],
      verbs: p.verbs,
      ...(p.resourceNames ? { resourceNames: p.resourceNames } : {}),
    })),
  );

/** `kubectl auth can-i` arguments for each action of a permission (a named object where it is restricted to some). */
function canIArgs(p: Permission, scope: string[]): string[][] {
  const [resource, subresource] = p.resource.split('/');
  const type = p.group ? `${resource}.${p.group}` : resource!;
  const targets = p.resourceNames?.map((name) => `${type}/${name}`) ?? [type];
  return p.verbs.flatMap((verb) =>
    targets.map((target) => [
      verb,
      target,
      ...scope,
      ...(subresource ? [`--subresource=${subresource}`] : []),
    ]),
  );
}

describe('deploy/kubernetes without a cluster', () => {
  it('carries exact copies of device-models/crds (refresh: cp device-models/crds/*.yaml deploy/kubernetes/crds/)', () => {
    const source = join(root, 'device-models/crds');
    const copy = join(base, 'crds');
    expect(readdirSync(copy).sort()).toEqual(readdirSync(source).sort());
    for (const file of readdirSync(source))
      expect(readFileSync(join(copy, file), 'utf8'), file).toBe(readFileSync(join(source, file), 'utf8'));
    const kustomization = parse(readFileSync(join(base, 'kustomization.yaml'), 'utf8')) as {
      resources: string[];
    };
    expect(kustomization.resources.filter((r) => r.startsWith('crds/')).sort()).toEqual(
      readdirSync(copy)
        .map((f) => `crds/${f}`)
        .sort(),
    );
  });

  it("tags the image with package.json's version", () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    const kustomization = parse(readFileSync(join(base, 'kustomization.yaml'), 'utf8')) as {
      images: { name: string; newTag: string }[];
    };
    expect(kustomization.images).toEqual([{ name: 'edgetwin', newTag: version }]);
  });

  it('lists each permission once, with the code that needs it, no wildcard, and a directory of extras/ per extra list', () => {
    for (const list of Object.values(permissions)) {
      for (const p of list) {
        const where = `${p.group}/${p.resource}`;
        expect(p.by, where).toMatch(/^cloudcore\/[\w.-]+\.ts$/);
        expect(existsSync(join(root, p.by)), `${where}: ${p.by} exists`).toBe(true);
        expect(p.why, where).toMatch(/\w/);
        expect([p.group, p.resource, ...p.verbs]).not.toContain('*');
      }
      const grants = grantsOfPermissions(list);
      expect(new Set(grants).size).toBe(grants.length);
    }
    expect(extras.map((e) => e.dir).sort()).toEqual(
      readdirSync(join(base, 'extras'))
        .map((f) => `extras/${f}`)
        .sort(),
    );
  });
});

describe('deploy/kubernetes on a real kube-apiserver (1.20)', () => {
  let cluster: Cluster;
  let rendered: K8sObject[];
  /** Each directory of extras/, rendered. */
  const extraObjects: Record<string, K8sObject[]> = {};
  let dir: string;
  const byKind = (kind: string) => rendered.filter((o) => o.kind === kind);
  const one = (kind: string) => {
    const found = byKind(kind);
    expect(found, kind).toHaveLength(1);
    return found[0]!;
  };
  const list = (items: object[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
  const canI = async (args: string[]) =>
    (await cluster.kubectl(['auth', 'can-i', `--as=${AS}`, ...args])).stdout.trim();

  // A cold build of kube-apiserver takes minutes; later runs use the cached binaries.
  beforeAll(async () => {
    cluster = await startCluster();
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-deploy-'));
    rendered = documents(await cluster.run(['kustomize', base]));
    for (const extra of extras)
      extraObjects[extra.dir] = documents(await cluster.run(['kustomize', join(base, extra.dir)]));
    // The CRDs, the namespace, the ServiceAccount and its RBAC for real: the dry run needs the namespace,
    // `auth can-i` the bindings (and the CRDs, for kubectl to name their resources), cloudcore all of it.
    const kinds = ['CustomResourceDefinition', 'Namespace', 'ServiceAccount', 'ClusterRole', 'Role'];
    const real = rendered.filter((o) => kinds.includes(o.kind.replace(/Binding$/, '')));
    await cluster.run(['apply', '-f', '-'], list(real));
    await cluster.run(['wait', '--for', 'condition=established', '--timeout', '60s', 'crd', '--all']);
  }, 600_000);
  afterAll(async () => {
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('renders with kubectl 1.20: the CRDs, the namespace, RBAC, the Deployment, its Services and its PDB', () => {
    expect(rendered.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      [
        'ClusterRole/edgetwin-cloudcore',
        'ClusterRoleBinding/edgetwin-cloudcore',
        'CustomResourceDefinition/devicemodels.devices.kubeedge.io',
        'CustomResourceDefinition/devices.devices.kubeedge.io',
        'CustomResourceDefinition/devicestatuses.devices.kubeedge.io',
        'Deployment/edgetwin-cloudcore',
        'Namespace/edgetwin',
        'PodDisruptionBudget/edgetwin-cloudcore',
        'Role/edgetwin-cloudcore',
        'RoleBinding/edgetwin-cloudcore',
        'Service/edgetwin-cloudcore-metrics',
        'Service/edgetwin-cloudhub',
        'ServiceAccount/edgetwin-cloudcore',
      ].sort(),
    );
    const clusterScoped = ['ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'Namespace'];
    for (const o of rendered)
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(
        clusterScoped.includes(o.kind) ? undefined : NAMESPACE,
      );
  });

  it('is accepted by kubectl apply --dry-run=server, and so are the extras', async () => {
    const served = (await cluster.run(['api-versions'])).split('\n');
    // policy/v1 PodDisruptionBudget came with Kubernetes 1.21 (and v1beta1 went in 1.25): the base has v1, the
    // test's 1.20 API server checks the same spec as v1beta1.
    const manifests = rendered.map((o) =>
      o.kind === 'PodDisruptionBudget' && !served.includes('policy/v1')
        ? { ...o, apiVersion: 'policy/v1beta1' }
        : o,
    );
    const applied = await cluster.kubectl(
      ['apply', '--dry-run=server', '-o', 'name', '-f', '-'],
      list(manifests),
    );
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout.trim().split('\n')).toHaveLength(rendered.length);

    for (const { dir } of extras) {
      const extra = await cluster.kubectl(['apply', '--dry-run=server', '-k', join(base, dir)]);
      expect(extra.code, `${dir}: ${extra.stderr}`).toBe(0);
    }
  });

  it('grants exactly what permissions.yaml lists, with no wildcard, to the ServiceAccount alone', () => {
    const subject = [{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: NAMESPACE }];
    const check = (roles: K8sObject[], bindings: K8sObject[], expected: Permission[]) => {
      for (const rule of roles.flatMap((r) => r.rules as PolicyRule[])) {
        expect(rule.nonResourceURLs).toBeUndefined();
        expect([...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...rule.verbs]).not.toContain('*');
      }
      expect(grantsOfRules(roles.flatMap((r) => r.rules))).toEqual(grantsOfPermissions(expected));
      expect(bindings.map((b) => b.roleRef)).toEqual(
        roles.map((r) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: r.kind, name: r.metadata.name })),
      );
      for (const binding of bindings) expect(binding.subjects).toEqual(subject);
    };
    check(byKind('ClusterRole'), byKind('ClusterRoleBinding'), permissions.cluster);
    check(byKind('Role'), byKind('RoleBinding'), permissions.namespace);
    expect(one('Deployment').spec.template.spec.serviceAccountName).toBe(SERVICE_ACCOUNT);

    for (const { section, dir } of extras) {
      const objects = extraObjects[dir]!;
      const of = (kind: string) => objects.filter((o) => o.kind === kind);
      expect(objects.map((o) => o.kind).sort(), dir).toEqual(['ClusterRole', 'ClusterRoleBinding']);
      check(of('ClusterRole'), of('ClusterRoleBinding'), permissions[section]!);
    }
  });

  it('lets the ServiceAccount do what cloudcore does, and none of a few things it must not (kubectl auth can-i)', async () => {
    // The API server's RBAC authorizer answers (cluster.sh: --authorization-mode RBAC).
    const needed = [
      ...permissions.cluster.flatMap((p) => canIArgs(p, ['--all-namespaces'])),
      ...permissions.namespace.flatMap((p) => canIArgs(p, ['-n', NAMESPACE])),
    ];
    for (const args of needed) expect(await canI(args), args.join(' ')).toBe('yes');

    const refused = [
      ['create', `devices.${DEVICES}`, '--all-namespaces'],
      ['update', `devices.${DEVICES}`, '--all-namespaces'],
      ['patch', `devices.${DEVICES}`, '--all-namespaces'], // spec: extras/dashboard and extras/kubeedge-crds only
      ['delete', `devices.${DEVICES}`, '--all-namespaces'],
      ['watch', `devicestatuses.${DEVICES}`, '--all-namespaces'], // extras/dashboard only
      ['patch', `devicemodels.${DEVICES}`, '--all-namespaces'],
      ['update', `devicestatuses.${DEVICES}`, '--all-namespaces'],
      ['get', 'secrets/edgetwin-cloudcore-pki', '-n', NAMESPACE], // the CA is mounted, never read through the API
      ['list', 'secrets', '-n', NAMESPACE],
      ['delete', 'secrets/edgetwin-join-ledger', '-n', NAMESPACE],
      ['get', 'secrets', '--all-namespaces'],
      ['create', 'leases.coordination.k8s.io', '-n', 'default'],
      ['get', 'configmaps', '-n', NAMESPACE],
      ['create', 'pods', '-n', NAMESPACE],
      ['list', 'events', '--all-namespaces'],
      ['list', 'nodes'],
      ['create', 'customresourcedefinitions.apiextensions.k8s.io'],
      ['escalate', 'clusterroles.rbac.authorization.k8s.io'],
      ['*', '*'],
    ];
    for (const args of refused) expect(await canI(args), args.join(' ')).toBe('no');
  }, 60_000);

  /** A kubeconfig of the ServiceAccount alone: a token from the TokenRequest API, made once. */
  let saKubeconfig: Promise<string> | undefined;
  const serviceAccountKubeconfig = () => {
    saKubeconfig ??= (async () => {
      const path = `/api/v1/namespaces/${NAMESPACE}/serviceaccounts/${SERVICE_ACCOUNT}/token`;
      const request = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} };
      const issued = JSON.parse(
        await cluster.run(['create', '--raw', path, '-f', '-'], JSON.stringify(request)),
      ) as { status: { token: string } };
      const kubeconfig = parse(await readFile(cluster.kubeconfig, 'utf8'));
      kubeconfig.users = [{ name: 'cloudcore', user: { token: issued.status.token } }];
      // The namespace a pod's would have (in a pod, cloudcore reads it from the ServiceAccount's mount).
      const context = kubeconfig.contexts[0].context;
      kubeconfig.contexts[0].context = { ...context, user: 'cloudcore', namespace: NAMESPACE };
      const file = join(dir, 'cloudcore.kubeconfig');
      await writeFile(file, stringify(kubeconfig), { mode: 0o600 });
      return file;
    })();
    return saKubeconfig;
  };

  /** The Modbus thermostat sample (model and Device) in a namespace of its own, for `node`; its key. */
  async function applyThermostat(namespace: string, node: string, more: object[] = []): Promise<string> {
    await cluster.run(['create', 'namespace', namespace]);
    const sample = documents(
      await readFile(join(root, 'device-models/samples/modbus-tcp-thermostat.yaml'), 'utf8'),
    ).map((o) => ({
      ...o,
      metadata: { ...o.metadata, namespace },
      ...(o.kind === 'Device' ? { spec: { ...o.spec, nodeName: node } } : {}),
    }));
    await cluster.run(['apply', '-f', '-'], list([...sample, ...more]));
    return `${namespace}/thermostat-01`;
  }

  /**
   * The PKI as the Deployment mounts it: the CA alone (ca.crt and ca.key, from the Secret) in a writable
   * directory; and the CA itself, as the user keeps it to make join tokens (edgetwin token --pki …).
   */
  async function caOnlyPki(name: string): Promise<{ pkiDir: string; ca: CloudPki }> {
    const made = join(dir, `${name}-made-by-the-user`);
    const ca = await CloudPki.open(made);
    const pkiDir = join(dir, `${name}-pki`);
    await mkdir(pkiDir);
    for (const file of ['ca.crt', 'ca.key']) await copyFile(join(made, file), join(pkiDir, file));
    return { pkiDir, ca };
  }

  /** A logger that keeps cloudcore's warnings and errors. */
  function recordingLogger(): { log: Logger; problems: string[] } {
    const problems: string[] = [];
    const log: Logger = {
      ...silentLogger,
      warn: (obj, msg) => problems.push(`warn ${msg ?? ''} ${JSON.stringify(obj)}`),
      error: (obj, msg) => problems.push(`error ${msg ?? ''} ${JSON.stringify(obj)}`),
      child: () => log,
    };
    return { log, problems };
  }
  const forbidden = (problems: string[]) => problems.filter((p) => /\b403\b|forbidden/i.test(p));
  const get = async (...args: string[]) => JSON.parse(await cluster.run(['get', ...args, '-o', 'json']));

  it("runs a real cloudcore as the ServiceAccount: it serves a node and writes another namespace's Devices' status", async () => {
    // A Device for the node that will report; and a DeviceStatus whose Device is gone, for the leader's garbage
    // collection.
    const NODE = 'gateway-a';
    const deviceNamespace = 'plant-a';
    const orphan = {
      apiVersion: `${DEVICES}/v1beta1`,
      kind: 'DeviceStatus',
      metadata: {
        name: 'gone',
        namespace: deviceNamespace,
        ownerReferences: [
          { apiVersion: `${DEVICES}/v1beta1`, kind: 'Device', name: 'gone', uid: randomUUID() },
        ],
      },
    };
    const key = await applyThermostat(deviceNamespace, NODE, [orphan]);
    const { pkiDir, ca } = await caOnlyPki('hub');
    const { log, problems } = recordingLogger();
    const cloud = new CloudCore({
      kubeconfig: await serviceAccountKubeconfig(),
      pkiDir,
      host: '127.0.0.1',
      port: 0,
      statusIntervalMs: 50,
      log,
    });
    await cloud.start();
    try {
      // The leader Lease, and the garbage collection it runs: the orphaned DeviceStatus goes.
      await waitFor('this replica leading', () => cloud.replication?.leader.isLeader);
      await waitFor('the orphaned DeviceStatus deleted', async () => {
        const left = await cluster.kubectl(['get', 'devicestatus', 'gone', '-n', deviceNamespace]);
        return left.code !== 0 && left.stderr.includes('NotFound');
      });

      // The node joins with a token of the CA in the Secret, made outside the cluster (edgetwin token --pki …);
      // the join is recorded in the ledger Secret.
      const nodeDir = join(dir, NODE);
      await joinCloud({
        cloud: cloud.url,
        token: await ca.issueToken(600),
        nodeName: NODE,
        dataDir: nodeDir,
        configFile: join(nodeDir, 'edge.yaml'),
      });
      const ledger = await get('secret', 'edgetwin-join-ledger', '-n', NAMESPACE);
      expect(Buffer.from(ledger.data['ledger.json'], 'base64').toString()).toContain(NODE);

      const certs = join(nodeDir, 'certs');
      const { ws, status: hello } = await connectNode(certs, cloud.url);
      expect(hello).toBe(101);
      const received: HubMessage[] = [];
      ws.on('message', (data) => received.push(JSON.parse(data.toString()) as HubMessage));
      try {
        // The device reached the node: cloudcore listed and watched it with the ServiceAccount's rights.
        await waitFor('the device at the node', () =>
          received.some((m) => m.route.resource === hubResources.device(NODE, key)),
        );
        await waitFor(
          'the node Lease',
          async () => (await get('leases', '-n', NAMESPACE)).items.length === 2,
        );
        /** Sends a report and resolves to the code cloudcore answers it with (200: it is in Kubernetes). */
        const report = async (resource: string, content: unknown) => {
          const message = hubMessage('edgehub', 'update', resource, content);
          ws.send(JSON.stringify(message));
          const answer = await waitFor('the answer', () =>
            received.find((m) => m.header.parent_msg_id === message.header.msg_id),
          );
          return (answer.content as { code: number }).code;
        };
        const twin = { temperature: { actual: { value: '21.5' }, metadata: { type: 'float' } } };
        // (A 403 from the API server would come back as a 5xx.)
        expect(await report(hubResources.twin(NODE, key), { twin })).toBe(200);
        // online, offline, online: the second "online" Event is counted on the first (its count patched).
        for (const state of ['online', 'offline', 'online'])
          expect(await report(hubResources.state(NODE, key), { state }), state).toBe(200);
      } finally {
        ws.terminate();
      }
      const status = await get('devicestatus', 'thermostat-01', '-n', deviceNamespace);
      expect(status.status.state).toBe('online');
      expect(
        status.status.twins.find((t: { propertyName: string }) => t.propertyName === 'temperature')?.reported
          ?.value,
      ).toBe('21.5');
      // The node's Lease goes with its connection.
      await waitFor(
        'the node Lease released',
        async () => (await get('leases', '-n', NAMESPACE)).items.length === 1,
      );
    } finally {
      await cloud.stop(); // (writes the Events' counts still waiting)
    }
    // The state changes as Events beside the Device, the repeated one counted.
    const events = (await get('events', '-n', deviceNamespace)).items as {
      involvedObject: { name: string };
      count: number;
    }[];
    const counts = events.filter((e) => e.involvedObject.name === 'thermostat-01').map((e) => e.count);
    expect(counts.sort()).toEqual([1, 2]);
    expect(forbidden(problems)).toEqual([]);
  }, 60_000);

  it('with extras/dashboard, and only with it, the dashboard sets desired values as the ServiceAccount', async () => {
    const key = await applyThermostat('plant-b', 'gateway-b');
    const { pkiDir } = await caOnlyPki('dashboard');
    const { log, problems } = recordingLogger();
    const cloud = new CloudCore({
      kubeconfig: await serviceAccountKubeconfig(),
      pkiDir,
      host: '127.0.0.1',
      port: 0,
      dashboard: { host: '127.0.0.1', port: 0 },
      log,
    });
    await cloud.start();
    const dashboard = join(base, 'extras/dashboard');
    const setpoint = (value: string) =>
      fetch(`${cloud.dashboardUrl}/api/v1/devices/${key}/twins/setpoint/desired`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ value }),
      });
    try {
      // The base alone may not write a Device's spec.
      const refused = await setpoint('24');
      expect(refused.status, await refused.text()).not.toBe(200);
      expect(forbidden(problems)).not.toEqual([]);

      await cluster.run(['apply', '-k', dashboard]);
      await waitFor('the desired value set', async () => (await setpoint('24')).status === 200);
      const device = await get('device', 'thermostat-01', '-n', 'plant-b');
      const property = device.spec.properties.find((p: { name: string }) => p.name === 'setpoint');
      expect(property.desired.value).toBe('24');
      // And a second write is refused nothing.
      problems.length = 0;
      expect((await setpoint('25')).status).toBe(200);
      expect(forbidden(problems)).toEqual([]);
    } finally {
      await cloud.stop();
      await cluster.run(['delete', '-k', dashboard]);
    }
  }, 60_000);

  it("starts `edgetwin cloud` with the Deployment's arguments, as the ServiceAccount; /healthz, /metrics, SIGTERM", async () => {
    const [container] = one('Deployment').spec.template.spec.containers;
    const { pkiDir } = await caOnlyPki('cli');
    // The pod's arguments, but on loopback and free ports, with the PKI and the kubeconfig of this test.
    const args = (container.args as string[]).map((arg) =>
      arg.startsWith('--listen=')
        ? '--listen=127.0.0.1:0'
        : arg.startsWith('--metrics=')
          ? '--metrics=127.0.0.1:0'
          : arg.startsWith('--pki=')
            ? `--pki=${pkiDir}`
            : arg,
    );
    const env = Object.fromEntries(
      (container.env as { name: string; value: string }[]).map((e) => [e.name, e.value]),
    );
    const child = spawn(
      process.execPath,
      [cli, ...args, `--kubeconfig=${await serviceAccountKubeconfig()}`],
      {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    try {
      const metrics = await waitFor(
        'cloudcore started, with its metrics endpoint',
        () => child.exitCode === null && /metrics at (\S+)\/metrics/.exec(stderr)?.[1],
        30_000,
      );
      const health = await fetch(`${metrics}/healthz`);
      expect(health.status).toBe(200);
      expect(await fetch(`${metrics}/metrics`).then((r) => r.text())).toMatch(/^edgetwin_cloudcore_/m);
      expect(stderr).toMatch(/"msg":"cloudcore started"/);
    } finally {
      child.kill('SIGTERM');
    }
    // Stopped by the kubelet's SIGTERM alone, well within the default 30 s grace period.
    expect(await exited, stderr).toEqual([0, null]);
    expect(forbidden(stderr.split('\n'))).toEqual([]);
  }, 60_000);

  it('runs two replicas, never on one node, unprivileged, probed on /healthz, behind a PDB', () => {
    const deployment = one('Deployment');
    const pod = deployment.spec.template.spec;
    const labels = deployment.spec.selector.matchLabels;
    expect(deployment.spec.replicas).toBe(2);
    expect(pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual([
      { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: labels } },
    ]);
    expect(one('PodDisruptionBudget').spec).toEqual({ minAvailable: 1, selector: { matchLabels: labels } });

    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    const [container, ...others] = pod.containers;
    expect(others).toEqual([]);
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.resources.requests).toMatchObject({
      cpu: expect.any(String),
      memory: expect.any(String),
    });
    expect(container.resources.limits).toMatchObject({ memory: expect.any(String) });

    const port = (name: string) => container.ports.find((p: { name: string }) => p.name === name);
    expect(port('hub').containerPort).toBe(10000);
    expect(container.args).toContain(`--listen=0.0.0.0:${port('hub').containerPort}`);
    expect(container.args).toContain(`--metrics=:${port('metrics').containerPort}`);
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe'])
      expect(container[probe].httpGet, probe).toEqual({ path: '/healthz', port: 'metrics' });
    const services = Object.fromEntries(byKind('Service').map((s) => [s.metadata.name, s.spec]));
    expect(services['edgetwin-cloudhub']).toEqual({
      type: 'LoadBalancer',
      selector: labels,
      ports: [{ name: 'hub', port: 10000, targetPort: 'hub', protocol: 'TCP' }],
    });
    expect(services['edgetwin-cloudcore-metrics']).toEqual({
      type: 'ClusterIP',
      selector: labels,
      ports: [{ name: 'metrics', port: 10361, targetPort: 'metrics', protocol: 'TCP' }],
    });

    // The CA comes from the Secret, file by file, into the writable --pki directory.
    const pkiArg = container.args.find((a: string) => a.startsWith('--pki='))?.slice('--pki='.length);
    const mounts = container.volumeMounts as { name: string; mountPath: string; subPath?: string }[];
    expect(mounts.find((m) => m.mountPath === pkiArg)).toMatchObject({ name: 'pki' });
    expect(mounts.filter((m) => m.subPath).map((m) => m.mountPath)).toEqual([
      `${pkiArg}/ca.crt`,
      `${pkiArg}/ca.key`,
    ]);
    const ca = pod.volumes.find((v: { name: string }) => v.name === 'ca');
    expect(ca.secret.secretName).toBe('edgetwin-cloudcore-pki');
    expect(pod.volumes.find((v: { name: string }) => v.name === 'pki').emptyDir).toBeDefined();
  });
});
