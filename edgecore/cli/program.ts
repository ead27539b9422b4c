import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Command } from 'commander';
import { DEFAULT_MAX_BYTES } from '../../device-models/validate/source.js';
import { builtInProtocols } from '../../mappers/builtin.js';
import type { BrokerCredentialsOptions } from './broker-command.js';
import type { CloudCliOptions } from './cloud-command.js';
import type { JoinCliOptions, TokenCliOptions } from './join-command.js';
import type { MapperOptions } from './mapper-command.js';
import { addMapperNewCommand } from './mapper-new-command.js';
import type { Output } from './output.js';
import type { SimOptions } from './sim-command.js';
import type { ValidateOptions } from './validate-command.js';

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/**
 * The `edgetwin` command line; `run` resolves to the exit code. Each command's module is imported only when
 * that command runs: `edgetwin edge` never loads the Kubernetes client, the PKI or the WebSocket stack.
 */
export function createProgram(out: Output): { program: Command; run(argv: string[]): Promise<number> } {
  let exitCode = 0;
  const program = new Command('edgetwin')
    .description('device twins for edge gateways, KubeEdge-compatible')
    .version(version)
    .showHelpAfterError();
  const collect = (value: string, previous: string[]) => [...previous, value];
  const builtIn = builtInProtocols.map((p) => p.protocol);
  const simulated = builtInProtocols.filter((p) => p.createSimulator).map((p) => p.protocol);
  const plugin = [
    '--plugin <name>',
    'a protocol from another package (npm name or path, from the current directory); repeatable',
    collect,
  ] as const;

  program
    .command('validate')
    .description('check DeviceModel/Device/DeviceStatus YAML or JSON files and directories')
    .argument('<paths...>', 'files or directories (.yaml, .yml, .json)')
    .option('--json', 'print machine-readable results')
    .option('--max-bytes <n>', `refuse files larger than this (default ${DEFAULT_MAX_BYTES})`, Number)
    .option(
      '--protocol <names...>',
      'protocol names of mappers of your own (any name is valid; these are not warned about as look-alikes of a built-in one)',
    )
    .option(plugin[0], `${plugin[1]}: its schemas check its devices`, plugin[2], [] as string[])
    .action(async (paths: string[], options: ValidateOptions) => {
      exitCode = await (await import('./validate-command.js')).runValidate(paths, options, out);
    });

  program
    .command('crds')
    .description('print the Device, DeviceModel and DeviceStatus CRDs (apiextensions.k8s.io/v1)')
    .option('--out <dir>', 'write one file per CRD into this directory instead')
    .action(async (options: { out?: string }) => {
      exitCode = await (await import('./crds-command.js')).runCrds(options, out);
    });

  const mapper = program
    .command('mapper')
    .description('run a protocol mapper as its own process on the EventBus')
    .argument('<protocol>', `one of: ${builtIn.join(', ')}, or a plug-in's (--plugin)`)
    .requiredOption('--broker <url>', 'MQTT broker of the EventBus, e.g. mqtt://127.0.0.1:1883')
    .requiredOption('--devices <paths...>', 'Device and DeviceModel YAML files or directories')
    .option('--username <name>', 'MQTT username')
    .option('--password <password>', 'MQTT password')
    .option('--apply-desired', "write each Device's spec desired values on connect (no twin running)")
    .option(...plugin, [] as string[])
    .action(async (protocol: string, options: MapperOptions) => {
      exitCode = await (await import('./mapper-command.js')).runMapper(protocol, options, out);
    });
  addMapperNewCommand(mapper, out, (code) => {
    exitCode = code;
  });

  program
    .command('sim')
    .description("simulate a device from its YAML (the device's model must be among the files)")
    .argument('<protocol>', `${simulated.join(' | ')}, or a plug-in's (--plugin)`)
    .argument('<paths...>', 'Device and DeviceModel YAML files or directories')
    .option(
      '--device <name>',
      "which device, when the files hold several (modbus: every device on that device's line or endpoint)",
    )
    .option('--host <host>', 'TCP address to listen on (default 127.0.0.1)')
    .option(
      '--port <port>',
      "TCP port (default: the device's own; 0: any free port, one per line or endpoint)",
      Number,
    )
    .option(
      '--rtu <path>',
      'Modbus RTU and serial: serve on this serial line (default: a socat pty pair of its own)',
    )
    .option('--seed <n>', 'seed of the waveforms of read-only values', Number)
    .option(...plugin, [] as string[])
    .action(async (protocol: string, paths: string[], options: SimOptions) => {
      exitCode = await (await import('./sim-command.js')).runSim(protocol, paths, options, out);
    });

  program
    .command('edge')
    .description('run edgecore: EventBus, device twin, mappers, HTTP API')
    .option('--config <file>', 'edge.yaml (defaults work without one)')
    .option(
      '--set <field=value>',
      'set a field over edge.yaml and EDGETWIN_* variables, e.g. http.port=10351; repeatable',
      collect,
      [] as string[],
    )
    .option(
      '--check',
      'check the config and every device file (with the plug-ins), print every problem, start nothing',
    )
    .option('--print-config-reference', 'print edge.yaml with every field described, at its default')
    .action(async (options: import('./edge-command.js').EdgeOptions) => {
      exitCode = await (await import('./edge-command.js')).runEdge(options, out);
    });

  program
    .command('broker')
    .description("edgecore's embedded MQTT broker (the EventBus)")
    .command('credentials')
    .description('print the usernames and passwords of external mappers and apps (made on first use)')
    .option('--config <file>', 'edge.yaml (defaults work without one)')
    .option('--data-dir <dir>', "the edge's data directory (default: dataDir of the config)")
    .option('--protocol <names...>', 'protocols of mappers of your own, besides the built-in ones')
    .option('--json', 'print machine-readable output')
    .action(async (options: BrokerCredentialsOptions) => {
      exitCode = await (await import('./broker-command.js')).runBrokerCredentials(options, out);
    });

  program
    .command('demo')
    .description('edgecore with the embedded broker, the sample devices and their simulators (npm start)')
    .option('--data <dir>', 'where the twin database lives', './data')
    .option('--broker-port <port>', 'embedded broker port (0: any free port)', Number)
    .option('--http-port <port>', 'HTTP API port (0: any free port)', Number)
    .option('--anonymous', 'let MQTT clients connect without credentials (eventBus.internal.auth: none)')
    .action(
      async (options: { data?: string; brokerPort?: number; httpPort?: number; anonymous?: boolean }) => {
        exitCode = await (await import('./edge-command.js')).runDemo(options, out);
      },
    );

  program
    .command('token')
    .description('print a single-use token with which an edge node joins this cloud (edgetwin join)')
    .option('--pki <dir>', "the cloud's CA and certificates", './cloud-data/pki')
    .option('--ttl <duration>', 'how long the token is valid: 24h, 30m, 3600s', '24h')
    .option('--node <name>', 'only this node name may join with the token')
    .option('--force', 'the node may have joined already: its certificate is replaced (needs --node)')
    .action(async (options: TokenCliOptions) => {
      exitCode = await (await import('./join-command.js')).runToken(options, out);
    });

  program
    .command('join')
    .description("join cloudcore: get this node's certificate and write the cloud section of edge.yaml")
    .requiredOption('--cloud <host:port>', "cloudcore's CloudHub, e.g. 192.0.2.10:10000")
    .option(
      '--server <host:port>',
      'another cloudcore replica the edge may fail over to (repeatable; --cloud is tried too)',
      collect,
      [] as string[],
    )
    .requiredOption('--token <token>', 'from edgetwin token on the cloud')
    .option(
      '--node-name <name>',
      `this node (default: nodeName of --config if set there, else ${hostname().toLowerCase()})`,
    )
    .option(
      '--data <dir>',
      'data directory, certificates in <dir>/certs (default: dataDir of --config, else ./data)',
    )
    .option('--config <file>', 'edge config to write (other settings in it are kept)', './edge.yaml')
    .action(async (options: JoinCliOptions) => {
      exitCode = await (await import('./join-command.js')).runJoin(options, out);
    });

  program
    .command('bundle')
    .description(
      'one .tar.gz to flash a gateway: the edge, its node_modules, devices, config, systemd unit, install.sh',
    )
    .requiredOption(
      '--devices <dir>',
      'Device and DeviceModel YAML (a directory or one file): the gateway devices',
    )
    .requiredOption('--out <file>', 'the archive to write, e.g. gateway.tar.gz (and <file>.sha256)')
    .option(
      '--config <file>',
      "the gateway's edge.yaml (relative paths are pointed at /var/lib/edgetwin and /etc/edgetwin)",
    )
    .option('--with-node', "include this machine's Node runtime: the gateway needs nothing installed")
    .option(
      '--arch <arch>',
      "target CPU (x64, arm64, arm): native modules are built here, so only this machine's",
      process.arch,
    )
    .option(
      '--label <text>',
      'appended to the version, e.g. 2024-06-site-a: the release is <version>-<label>',
    )
    .option('--level <n>', 'gzip level 1-9 (default 6)', Number)
    .action(async (options: import('./bundle-command.js').BundleOptions) => {
      exitCode = await (await import('./bundle-command.js')).runBundle(options, out);
    });

  program
    .command('cloud')
    .description('run cloudcore: Device/DeviceModel to edge nodes, twins back to DeviceStatus')
    .option('--kubeconfig <file>', 'default: KUBECONFIG, ~/.kube/config, or in-cluster')
    .option('--listen <host:port>', 'CloudHub: WebSocket for edge nodes and the join API', '0.0.0.0:10000')
    .option('--pki <dir>', 'CA and server certificate (created on first start)', './cloud-data/pki')
    .option(
      '--host <name>',
      'a name or address edge nodes dial, for the server certificate (repeatable)',
      collect,
      [] as string[],
    )
    .option('--status-interval <ms>', 'at most one status patch per device per interval', Number, 500)
    .option(
      '--api-concurrency <n>',
      'status writes in flight at the API server at most; the others wait, merging newer reports',
      Number,
      32,
    )
    .option(
      '--status-target <kind>',
      'DeviceStatus (Device.status where the cluster has no DeviceStatus resource), or Device',
      'DeviceStatus',
    )
    .option('--keepalive <seconds>', 'ping edge nodes this often', Number, 15)
    .option(
      '--dashboard [host:port]',
      'serve the dashboard and its API for every node, from Kubernetes (off by default; alone: 127.0.0.1:10360)',
    )
    .option(
      '--dashboard-allowed-host <name>',
      'a Host the dashboard answers to besides loopback and its bind address (repeatable; * for any)',
      collect,
      [] as string[],
    )
    .option('--replica-id <id>', 'this replica in Leases (default <hostname>-<pid>); unique among replicas')
    .option(
      '--namespace <ns>',
      "Leases and the join ledger's Secret (default: the kubeconfig's, else default)",
    )
    .option(
      '--join-ledger <where>',
      'kubernetes (a Secret shared by every replica) or file (<pki>/join-ledger.json: one replica only)',
      'kubernetes',
    )
    .option(
      '--leader-lease <seconds>',
      'duration of the leader Lease (garbage collection runs on its holder)',
      Number,
    )
    .option(
      '--node-lease <seconds>',
      "duration of a node's Lease (newest connection wins); 0: no node Leases",
      Number,
    )
    .option(
      '--metrics <host:port>',
      'serve /metrics (Prometheus) and /healthz here; :port binds every address; off by default',
    )
    .action(async (options: CloudCliOptions) => {
      exitCode = await (await import('./cloud-command.js')).runCloud(options, out);
    });

  return {
    program,
    async run(argv: string[]) {
      await program.parseAsync(argv, { from: 'user' });
      return exitCode;
    },
  };
}
