import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TemplateContext } from './mapper-templates/context.js';
import { driverSource } from './mapper-templates/driver.js';
import { mapperNames, nameProblem } from './mapper-templates/names.js';
import {
  gitignore,
  type ProjectVersions,
  packageJson,
  projectReadme,
  sampleYaml,
  tsconfigs,
  vitestConfig,
} from './mapper-templates/project.js';
import { simulatorSource } from './mapper-templates/simulator.js';
import { conformanceTestSource, registrationSource, schemaSource } from './mapper-templates/sources.js';
import type { Output } from './output.js';

export interface MapperNewOptions {
  /** Where to write: default mappers/<name> inside an edgetwin checkout, else ./edgetwin-mapper-<name>. */
  dir?: string;
  force?: boolean;
}

/** One file of the scaffold, relative to the directory it is written to. */
export interface ScaffoldFile {
  path: string;
  content: string;
}

export interface Scaffold {
  mode: 'repository' | 'standalone';
  dir: string;
  files: ScaffoldFile[];
}

interface PackageJson {
  name?: string;
  version?: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const SAMPLE_PORT = 15020;

function readPackage(dir: string): PackageJson | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
  } catch {
    return undefined;
  }
}

/** The edgetwin source checkout `dir` is in (package.json named edgetwin, with sdk/ beside it), if any. */
export function edgetwinCheckoutOf(dir: string): string | undefined {
  for (let at = resolve(dir); ; at = dirname(at)) {
    if (readPackage(at)?.name === 'edgetwin' && existsSync(join(at, 'sdk', 'driver.ts'))) return at;
    if (dirname(at) === at) return undefined;
  }
}

/** This CLI's own package.json: the versions a standalone mapper depends on. */
function ownVersions(): ProjectVersions {
  let at = dirname(fileURLToPath(import.meta.url));
  let pkg = readPackage(at);
  while (pkg?.name !== 'edgetwin') {
    if (dirname(at) === at) throw new Error("cannot find edgetwin's package.json");
    at = dirname(at);
    pkg = readPackage(at);
  }
  const dependency = (name: string) => pkg.dependencies?.[name] ?? pkg.devDependencies?.[name] ?? '*';
  return {
    edgetwin: `^${pkg.version ?? '0.1.0'}`,
    typebox: dependency('@sinclair/typebox'),
    typescript: dependency('typescript'),
    vitest: dependency('vitest'),
    typesNode: dependency('@types/node'),
  };
}

/** A module specifier from `from` to `to`, with forward slashes and a leading `./` or `../`. */
function specifier(from: string, to: string): string {
  const path = relative(from, to).split(sep).join('/');
  return path.startsWith('.') ? path : `./${path}`;
}

/** What `edgetwin mapper new` writes, and where; writes nothing. */
export function planScaffold(name: string, options: MapperNewOptions, cwd = process.cwd()): Scaffold {
  const names = mapperNames(name);
  const checkout = edgetwinCheckoutOf(options.dir ? resolve(cwd, options.dir) : cwd);
  const dir = options.dir
    ? resolve(cwd, options.dir)
    : checkout
      ? join(checkout, 'mappers', name)
      : resolve(cwd, names.packageName);
  const base = { names, defaultExport: false, samplePort: SAMPLE_PORT };
  if (checkout) {
    const root = specifier(dir, checkout);
    const context: TemplateContext = {
      ...base,
      imports: {
        sdk: `${root}/sdk/index.js`,
        testing: `${root}/sdk/testing/index.js`,
        deviceModels: `${root}/device-models/index.js`,
      },
      sourceDir: relative(checkout, dir).split(sep).join('/'),
      fromTest: { sources: '.', sample: `./testdata/${name}-device.yaml` },
    };
    return {
      mode: 'repository',
      dir,
      files: [...sourceFiles(context, ''), ...sampleAndTest(context, 'testdata/', '')],
    };
  }
  const context: TemplateContext = {
    ...base,
    defaultExport: true,
    imports: { sdk: 'edgetwin/sdk', testing: 'edgetwin/sdk/testing', deviceModels: 'edgetwin/device-models' },
    sourceDir: 'src',
    fromTest: { sources: '../src', sample: `../samples/${name}-device.yaml` },
  };
  const tsconfig = tsconfigs();
  return {
    mode: 'standalone',
    dir,
    files: [
      { path: 'package.json', content: packageJson(names, ownVersions()) },
      { path: 'tsconfig.json', content: tsconfig.check },
      { path: 'tsconfig.build.json', content: tsconfig.build },
      { path: 'vitest.config.ts', content: vitestConfig() },
      { path: '.gitignore', content: gitignore() },
      { path: 'README.md', content: projectReadme(context) },
      ...sourceFiles(context, 'src/'),
      ...sampleAndTest(context, 'samples/', 'test/'),
    ],
  };
}

function sourceFiles(context: TemplateContext, under: string): ScaffoldFile[] {
  return [
    { path: `${under}index.ts`, content: registrationSource(context) },
    { path: `${under}schema.ts`, content: schemaSource(context) },
    { path: `${under}driver.ts`, content: driverSource(context) },
    { path: `${under}simulator.ts`, content: simulatorSource(context) },
  ];
}

function sampleAndTest(context: TemplateContext, samples: string, tests: string): ScaffoldFile[] {
  return [
    { path: `${samples}${context.names.protocol}-device.yaml`, content: sampleYaml(context) },
    { path: `${tests}conformance.integration.test.ts`, content: conformanceTestSource(context) },
  ];
}

/** The names of the protocols built into this edgetwin: a scaffold may not take one. */
async function builtInNames(): Promise<string[]> {
  const { builtInProtocols } = await import('../../mappers/builtin.js');
  return builtInProtocols.map((p) => p.protocol);
}

/** `edgetwin mapper new <name>`: writes the scaffold, refusing to overwrite a file unless --force. */
export async function runMapperNew(name: string, options: MapperNewOptions, out: Output): Promise<number> {
  const problem = nameProblem(name, await builtInNames());
  if (problem) {
    out.stderr(`edgetwin: ${problem}`);
    return 2;
  }
  const scaffold = planScaffold(name, options);
  const existing = scaffold.files.filter((f) => existsSync(join(scaffold.dir, f.path)));
  if (existing.length > 0 && !options.force) {
    out.stderr(
      `edgetwin: ${existing.length} file(s) exist in ${scaffold.dir}: ${existing.map((f) => f.path).join(', ')} (--force overwrites them)`,
    );
    return 2;
  }
  for (const file of scaffold.files) {
    const path = join(scaffold.dir, file.path);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, file.content);
  }
  const where = scaffold.mode === 'repository' ? 'in this repository' : 'as an npm project';
  out.stdout(`created the ${name} mapper ${where}: ${scaffold.dir}`);
  for (const file of scaffold.files) out.stdout(`  ${file.path}`);
  for (const line of nextSteps(scaffold, name)) out.stdout(line);
  return 0;
}

function nextSteps(scaffold: Scaffold, name: string): string[] {
  const { camel } = mapperNames(name);
  if (scaffold.mode === 'repository') {
    const test = join(relative(process.cwd(), scaffold.dir) || '.', 'conformance.integration.test.ts');
    return [
      'next:',
      `  npx vitest run ${test}   # the conformance suite: red until the driver's TODOs are done`,
      `  then add ${camel}Protocol to builtInProtocols in mappers/builtin.ts`,
    ];
  }
  return [
    'next:',
    `  cd ${relative(process.cwd(), scaffold.dir) || '.'} && npm install`,
    "  npm test   # the conformance suite: red until the driver's TODOs are done",
    `  on a gateway: npm install ${mapperNames(name).packageName}, and in edge.yaml mappers.plugins: ["${mapperNames(name).packageName}"]`,
  ];
}
