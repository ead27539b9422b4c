import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envName, envOverrides, flagOverrides, isSecretField } from './config-env.js';
import { formatConfigProblem, readEdgeConfig } from './config-source.js';

describe('edge.yaml fields from the environment', () => {
  it('matches keys case-insensitively against the schema and parses by its types', () => {
    const { overrides, problems } = envOverrides({
      EDGETWIN_HTTP__PORT: '10351',
      EDGETWIN_EVENTBUS__INTERNAL__MAXPACKETSIZE: '65536',
      EDGETWIN_EVENTBUS__MODE: 'Both',
      EDGETWIN_DEVICES__WATCH: 'false',
      EDGETWIN_DEVICES__DIRS: './a, ./b',
      EDGETWIN_HTTP__ALLOWEDHOSTS: '["gw.local"]',
      EDGETWIN_EVENTBUS__INTERNAL__APPS: '[{"name":"hmi","role":"read"}]',
      EDGETWIN_NODENAME: 'gw-7',
      EDGETWIN_CACHE: '/somewhere', // not a field, no __: another tool's
      HOME: '/root',
    });
    expect(problems).toEqual([]);
    expect(Object.fromEntries(overrides.map((o) => [o.path.join('.'), o.value]))).toEqual({
      'http.port': 10351,
      'eventBus.internal.maxPacketSize': 65536,
      'eventBus.mode': 'both',
      'devices.watch': false,
      'devices.dirs': ['./a', './b'],
      'http.allowedHosts': ['gw.local'],
      'eventBus.internal.apps': [{ name: 'hmi', role: 'read' }],
      nodeName: 'gw-7',
    });
    expect(envName(['eventBus', 'internal', 'maxPacketSize'])).toBe(
      'EDGETWIN_EVENTBUS__INTERNAL__MAXPACKETSIZE',
    );
  });

  it('refuses an unknown key or a bad value, naming the variable', () => {
    const { problems } = envOverrides({
      EDGETWIN_HTTP__PROT: '1',
      EDGETWIN_HTTP__PORT: 'eighty',
      EDGETWIN_EVENTBUS__MODE: 'cloud',
      EDGETWIN_CLOUD__ENABLED: 'perhaps',
      EDGETWIN_HTTP: '{}',
    });
    expect(problems.map((p) => `${p.source}: ${p.message}`)).toEqual([
      'EDGETWIN_CLOUD__ENABLED: cloud.enabled: must be true or false (got "perhaps")',
      'EDGETWIN_EVENTBUS__MODE: eventBus.mode: must be one of internal, external, both (got "cloud")',
      'EDGETWIN_HTTP: http is a section: set its fields one by one',
      'EDGETWIN_HTTP__PORT: http.port: must be an integer (got "eighty")',
      expect.stringMatching(/^EDGETWIN_HTTP__PROT: no field "PROT" in http \(its fields: host, port, /),
    ]);
  });

  it('--set takes dotted paths the same way', () => {
    expect(flagOverrides(['http.port=1', 'twin.writebehindms=0']).overrides.map((o) => o.value)).toEqual([
      1, 0,
    ]);
    expect(flagOverrides(['http.port']).problems[0]?.message).toMatch(/expected <field>=<value>/);
  });

  it('applies defaults < edge.yaml < environment < --set, and places a refused value where it was set', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edge-config-'));
    const file = join(dir, 'edge.yaml');
    await writeFile(file, 'nodeName: from-file\nhttp:\n  port: 1000\n  host: 0.0.0.0\n');
    const read = await readEdgeConfig({
      file,
      env: { EDGETWIN_HTTP__PORT: '2000', EDGETWIN_NODENAME: 'from-env' },
      set: ['http.port=3000'],
    });
    expect(read.problems).toEqual([]);
    expect(read.config).toMatchObject({
      nodeName: 'from-env',
      http: { port: 3000, host: '0.0.0.0', requestTimeoutMs: 30_000 },
      eventBus: { mode: 'internal' },
    });
    const bad = await readEdgeConfig({ file, env: { EDGETWIN_HTTP__PORT: '70000' } });
    expect(bad.config).toBeUndefined();
    expect(bad.problems.map(formatConfigProblem)).toEqual([
      'EDGETWIN_HTTP__PORT  http.port  must be <= 65535 (got 70000)',
    ]);
  });

  it('knows which fields are secrets', () => {
    expect(isSecretField(['eventBus', 'external', 'password'])).toBe(true);
    expect(isSecretField(['eventBus', 'external', 'username'])).toBe(false);
  });
});
