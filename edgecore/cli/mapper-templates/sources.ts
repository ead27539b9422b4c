import type { TemplateContext } from './context.js';

/** The connection-config and visitor schemas (TypeBox), the types inferred from them, and the default timeout. */
export function schemaSource({ names, imports }: TemplateContext): string {
  const { pascal, protocol } = names;
  return `import { type Static, Type } from '@sinclair/typebox';
import { Closed, Numeric } from '${imports.deviceModels}';

/** How long a request waits for an answer when the config gives no \`timeout\`, ms. */
export const DEFAULT_TIMEOUT_MS = 1000;

/**
 * \`spec.protocol.configData\` of a ${protocol} device: how to reach it (a model's protocolConfigData, overridden key by
 * key by the device's). Numbers are \`Numeric\`: KubeEdge manifests write \`port: 502\` and \`port: "502"\` alike.
 * TODO: replace these fields with what your protocol needs to open a connection.
 */
export const ${pascal}Config = Closed({
  host: Type.String({ minLength: 1, description: 'address of the device, e.g. 192.0.2.10' }),
  port: Numeric({ integer: true, minimum: 0, maximum: 65535 }),
  timeout: Type.Optional(Numeric({ integer: true, minimum: 1, description: 'ms to wait for an answer' })),
});
export type ${pascal}Config = Static<typeof ${pascal}Config>;

/**
 * \`visitors.configData\` of each property: where its value lives on the device.
 * TODO: replace \`address\` with your protocol's way of naming a value (a register, a key, a node id…).
 */
export const ${pascal}Visitor = Closed({
  address: Type.String({ minLength: 1, description: 'where the value lives on the device' }),
});
export type ${pascal}Visitor = Static<typeof ${pascal}Visitor>;
`;
}

/**
 * The registration object: everything about the protocol in one value, cheap to import (the driver and the
 * simulator are imported when first needed).
 */
export function registrationSource({ names, imports, defaultExport }: TemplateContext): string {
  const { camel, pascal, protocol } = names;
  const exportDefault = defaultExport
    ? `
/** A plug-in's default export is its registration: edge.yaml \`mappers.plugins: ["${names.packageName}"]\`. */
export default ${camel}Protocol;
`
    : '';
  // In the order biome's organizeImports keeps them: case-insensitive.
  const fromSchema = [`${pascal}Config`, `${pascal}Visitor`, 'DEFAULT_TIMEOUT_MS'].sort((a, b) =>
    a.toLowerCase() < b.toLowerCase() ? -1 : 1,
  );
  return `import { defineRegistration } from '${imports.sdk}';
import { ${fromSchema.join(', ')} } from './schema.js';

/**
 * The ${protocol} protocol: the schemas \`edgetwin validate\` and edgecore check each device's configData and
 * visitors against, the driver (imported only when a device uses the protocol) and the simulator.
 */
export const ${camel}Protocol = defineRegistration({
  protocol: '${protocol}',
  configSchema: ${pascal}Config,
  visitorSchema: ${pascal}Visitor,
  async loadDriver() {
    const { ${pascal}Driver } = await import('./driver.js');
    return {
      createDriver: (context) => new ${pascal}Driver(context),
      timeoutMs: (config) => config.timeout ?? DEFAULT_TIMEOUT_MS,
    };
  },
  async createSimulator(device, options) {
    const { ${pascal}Simulator } = await import('./simulator.js');
    const simulator = new ${pascal}Simulator(device as never, options);
    return { reached: await simulator.start(), stop: () => simulator.stop() };
  },
});
${exportDefault}
export { ${pascal}Config, ${pascal}Visitor } from './schema.js';
`;
}

/** The conformance suite on the sample device against the simulator: red until the driver is written. */
export function conformanceTestSource({ names, imports, fromTest }: TemplateContext): string {
  const { camel, pascal, protocol } = names;
  return `import { fileURLToPath } from 'node:url';
import { loadDevices } from '${imports.deviceModels}';
import { loadProtocolMapper } from '${imports.sdk}';
import { describeConformance } from '${imports.testing}';
import { ${camel}Protocol } from '${fromTest.sources}/index.js';
import { type ${pascal}Device, ${pascal}Simulator } from '${fromTest.sources}/simulator.js';

/**
 * The mapper conformance suite (edgetwin/sdk/testing) on the sample device, against the simulator: the protocol
 * is done when this passes. The sample is validated against the protocol's schemas, as edgecore would.
 */
const sample = fileURLToPath(new URL('${fromTest.sample}', import.meta.url));
const { devices } = await loadDevices([sample], { protocols: [${camel}Protocol] });
const device = devices[0] as ${pascal}Device;
let simulator: ${pascal}Simulator | undefined;

describeConformance({
  name: '${protocol} (sample ${protocol}-01)',
  mapper: await loadProtocolMapper(${camel}Protocol),
  device,
  timeoutMs: 500,
  async startSimulator() {
    // Any free port at first; after a stop it comes back on the same one.
    const current = simulator ?? new ${pascal}Simulator(device, { port: 0 });
    simulator = current;
    return { config: await current.start(), stop: () => current.stop() };
  },
  setSilent(silent) {
    if (simulator) simulator.silent = silent;
  },
  // Once these cases pass, the skipped ones ask for more: \`sharedLine\` (several devices on one connection) and
  // \`typedWrites\` (a write of every property type the protocol supports); see ConformanceTarget.
});
`;
}
