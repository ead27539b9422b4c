import type { TemplateContext } from './context.js';
import type { MapperNames } from './names.js';

/** The versions a standalone mapper depends on: edgetwin's own, and those of the tools edgetwin is built with. */
export interface ProjectVersions {
  edgetwin: string;
  typebox: string;
  typescript: string;
  vitest: string;
  typesNode: string;
}

/** A DeviceModel and a Device of the protocol (KubeEdge v1beta1), on the port the simulator serves by default. */
export function sampleYaml({ names, samplePort }: TemplateContext): string {
  const { protocol } = names;
  const visitor = (address: string) => `      visitors:
        protocolName: ${protocol}
        configData:
          address: ${address}`;
  return `# A sample ${protocol} device for the conformance suite, \`edgetwin validate\` and \`edgetwin sim\`.
# TODO: make the properties and their visitors those of a real device of yours.
apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata:
  name: ${protocol}-model
  namespace: default
spec:
  protocol: ${protocol}
  properties:
    - name: temperature
      description: A reading the device reports
      type: FLOAT
      accessMode: ReadOnly
      minimum: "-40"
      maximum: "125"
      unit: "°C"
    - name: setpoint
      description: A value the device takes
      type: INT
      accessMode: ReadWrite
      minimum: "0"
      maximum: "100"
    - name: enabled
      description: A switch
      type: BOOLEAN
      accessMode: ReadWrite
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  name: ${protocol}-01
  namespace: default
spec:
  deviceModelRef:
    name: ${protocol}-model
  nodeName: edge-node-1
  protocol:
    protocolName: ${protocol}
    configData:
      host: 127.0.0.1
      port: ${samplePort}
      timeout: 1000
  properties:
    - name: temperature
      collectCycle: 1000
      reportCycle: 1000
      reportToCloud: true
${visitor('temperature')}
    - name: setpoint
      collectCycle: 1000
      reportCycle: 1000
      reportToCloud: true
      desired:
        value: "40"
${visitor('setpoint')}
    - name: enabled
      collectCycle: 1000
      reportCycle: 1000
      reportToCloud: true
${visitor('enabled')}
`;
}

/** package.json of a standalone mapper: a plug-in whose default export is the registration. */
export function packageJson(names: MapperNames, versions: ProjectVersions): string {
  const pkg = {
    name: names.packageName,
    version: '0.1.0',
    description: `${names.protocol} protocol mapper for edgetwin (a plug-in: mappers.plugins in edge.yaml)`,
    keywords: ['edgetwin', 'edgetwin-mapper', 'kubeedge', 'mapper', names.protocol],
    type: 'module',
    engines: { node: '>=20' },
    exports: {
      '.': { types: './dist/index.d.ts', default: './dist/index.js' },
      './package.json': './package.json',
    },
    files: ['dist', 'samples'],
    scripts: {
      build: 'tsc -p tsconfig.build.json',
      typecheck: 'tsc --noEmit',
      test: 'vitest run',
      prepack: 'npm run build',
    },
    dependencies: { '@sinclair/typebox': versions.typebox },
    // The gateway's own edgetwin: one copy, so its runtime recognises the errors the driver throws.
    peerDependencies: { edgetwin: versions.edgetwin },
    devDependencies: {
      '@types/node': versions.typesNode,
      edgetwin: versions.edgetwin,
      typescript: versions.typescript,
      vitest: versions.vitest,
    },
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

const COMPILER_OPTIONS = {
  target: 'ES2022',
  lib: ['ES2023'],
  module: 'NodeNext',
  moduleResolution: 'NodeNext',
  types: ['node'],
  strict: true,
  noUncheckedIndexedAccess: true,
  noImplicitOverride: true,
  isolatedModules: true,
  verbatimModuleSyntax: true,
  skipLibCheck: true,
  noEmit: true,
};

/** tsconfig.json checks sources and tests; tsconfig.build.json emits the sources to dist/. */
export function tsconfigs(): { check: string; build: string } {
  const check = { compilerOptions: COMPILER_OPTIONS, include: ['src', 'test', 'vitest.config.ts'] };
  const build = {
    extends: './tsconfig.json',
    compilerOptions: { noEmit: false, rootDir: 'src', outDir: 'dist', declaration: true, sourceMap: true },
    include: ['src'],
  };
  return { check: `${JSON.stringify(check, null, 2)}\n`, build: `${JSON.stringify(build, null, 2)}\n` };
}

export function vitestConfig(): string {
  return `import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
`;
}

export function gitignore(): string {
  return 'node_modules/\ndist/\n*.tgz\n';
}

/** The project's README: what each file is, and the loop that ends with a green conformance suite. */
export function projectReadme({ names }: TemplateContext): string {
  const { protocol, camel, packageName } = names;
  return `# ${packageName}

An [edgetwin](https://www.npmjs.com/package/edgetwin) mapper for the \`${protocol}\` protocol, scaffolded by
\`edgetwin mapper new ${protocol}\`.

| file | what it is |
|---|---|
| \`src/schema.ts\` | TypeBox schemas of \`protocol.configData\` and of each property's \`visitors.configData\` |
| \`src/driver.ts\` | the driver: \`connect\`, \`read\`, \`readMany\` (optional), \`write\`, \`close\` — stubs that throw \`TODO: implement …\` |
| \`src/simulator.ts\` | a TCP simulator holding a value per property; speaking the protocol is a TODO |
| \`src/index.ts\` | \`${camel}Protocol\`, the registration object (also the default export) |
| \`samples/${protocol}-device.yaml\` | a DeviceModel and a Device (KubeEdge \`devices.kubeedge.io/v1beta1\`) |
| \`test/conformance.integration.test.ts\` | edgetwin's mapper conformance suite on the sample, against the simulator |

\`\`\`sh
npm install
npm test            # the conformance suite: red until the TODOs are done
npm run typecheck
\`\`\`

Work through the failures in order: \`connects\`, then the reads, the batch read (or delete \`readMany\`), the
writes, a silent device (\`PROTOCOL_TIMEOUT\`), a simulator that goes away and comes back, and a clean close.
The protocol is done when the suite is green.

Use it on a gateway: \`npm install ${packageName}\` next to edgetwin, then in edge.yaml

\`\`\`yaml
mappers:
  plugins: ["${packageName}"]
\`\`\`
`;
}
