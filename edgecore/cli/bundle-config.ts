import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { parseDocument } from 'yaml';
import { loadEdgeConfig } from '../config.js';

/** Where install.sh puts things on the gateway; the systemd unit may write only GATEWAY.dataDir. */
export const GATEWAY = {
  prefix: '/opt/edgetwin',
  dataDir: '/var/lib/edgetwin',
  configDir: '/etc/edgetwin',
  devicesDir: '/etc/edgetwin/devices',
};

const DEFAULT_CONFIG = `# edge.yaml of this gateway, written by edgetwin bundle; installed as ${GATEWAY.configDir}/edge.yaml
# (install.sh keeps an existing one). Every field has a default: see the README, section edgecore.
# Devices with this spec.nodeName (or none) run here:
nodeName: edge-node-1
# The twin database and broker credentials; the service may write nowhere else (ProtectSystem=strict).
dataDir: ${GATEWAY.dataDir}
devices:
  dirs: [${GATEWAY.devicesDir}]
  watch: true
`;

/**
 * The edge.yaml a bundle carries: the given one (validated, comments kept) with relative `dataDir` and
 * `devices.dirs` pointed at the gateway's paths — relative paths meant the build machine's working
 * directory — or a default one. `notes` says what was changed and what will not work under the unit.
 */
export async function gatewayConfig(file?: string): Promise<{ text: string; notes: string[] }> {
  if (!file) return { text: DEFAULT_CONFIG, notes: [] };
  const config = await loadEdgeConfig(file); // throws naming the problem
  const doc = parseDocument(await readFile(file, 'utf8'));
  const notes: string[] = [];
  const given = doc.get('dataDir');
  if (typeof given !== 'string' || !isAbsolute(given)) {
    doc.set('dataDir', GATEWAY.dataDir);
    notes.push(`dataDir ${given ?? `(default ${config.dataDir})`} → ${GATEWAY.dataDir}`);
  } else if (given !== GATEWAY.dataDir && !given.startsWith(`${GATEWAY.dataDir}/`)) {
    notes.push(
      `warning: dataDir ${given} is outside ${GATEWAY.dataDir}: the systemd unit (ProtectSystem=strict) cannot write there; add it to ReadWritePaths=`,
    );
  }
  const dirs = config.devices.dirs;
  const gatewayDirs = dirs.map((d) => (isAbsolute(d) ? d : GATEWAY.devicesDir));
  if (dirs.some((d) => !isAbsolute(d))) {
    doc.setIn(['devices', 'dirs'], doc.createNode([...new Set(gatewayDirs)], { flow: true }));
    notes.push(`devices.dirs ${dirs.join(', ')} → ${[...new Set(gatewayDirs)].join(', ')}`);
  }
  if (!gatewayDirs.includes(GATEWAY.devicesDir))
    notes.push(
      `warning: devices.dirs (${gatewayDirs.join(', ')}) does not include ${GATEWAY.devicesDir}, where install.sh puts the bundle's devices`,
    );
  if (config.mappers.plugins.length > 0)
    notes.push(
      `warning: mappers.plugins (${config.mappers.plugins.join(', ')}) are not in the bundle: install them on the gateway`,
    );
  const changed = notes.some((n) => !n.startsWith('warning:'));
  return { text: changed ? doc.toString() : await readFile(file, 'utf8'), notes };
}
