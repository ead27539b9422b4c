// biome-ignore-all lint/suspicious/noTemplateCurlyInString: secret references are written ${env:…} on purpose
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { samplesDir } from './sample-files.js';
import { resolveSecrets, SecretUnresolved } from './secret-refs.js';
import { formatProblem, parseSource, validateObjects } from './validate/index.js';

/** The OPC UA tank sample with `configData` lines added to the Device (and `model` ones to its model). */
function tank(config: string, model = ''): string {
  const sample = readFileSync(join(samplesDir(), 'opcua-tank.yaml'), 'utf8');
  return sample
    .replace('      timeout: 2000\n', () => `      timeout: 2000\n${config}`)
    .replace('  protocol: opcua\n', () => `  protocol: opcua\n${model}`);
}

function load(text: string) {
  const result = validateObjects(parseSource('devices/tank.yaml', text).objects);
  return { ...result, device: result.devices[0] };
}

describe('secret references in configData', () => {
  const text = tank('      userName: operator\n      password: ${env:TANK_PASSWORD}\n');
  const passwordLine = text.split('\n').findIndex((l) => l.includes('${env:TANK_PASSWORD}')) + 1;

  it('pass validation as written, and say where each is', () => {
    const { problems, warnings, device } = load(text);
    expect(problems).toEqual([]);
    expect(warnings).toEqual([]);
    expect(device?.config).toMatchObject({ userName: 'operator', password: '${env:TANK_PASSWORD}' });
    expect(device?.secrets).toEqual([
      {
        path: ['password'],
        field: 'spec.protocol.configData.password',
        at: `devices/tank.yaml:${passwordLine}:17`,
        source: { env: 'TANK_PASSWORD' },
      },
    ]);
  });

  it('resolve from the environment into a copy; the device keeps the reference', () => {
    const { device } = load(text);
    const running = resolveSecrets(device!, { env: { TANK_PASSWORD: 's3cret!' } });
    expect(running.config).toMatchObject({ userName: 'operator', password: 's3cret!' });
    expect(device!.config.password).toBe('${env:TANK_PASSWORD}');
    expect(JSON.stringify(device)).not.toContain('s3cret!');
  });

  it('resolve from a file, without its trailing newline', () => {
    const { device } = load(tank('      userName: operator\n      password: ${file:/run/secrets/tank}\n'));
    const files: Record<string, string> = { '/run/secrets/tank': 'from-file\n' };
    const running = resolveSecrets(device!, {
      readFile: (path) => {
        if (path in files) return files[path]!;
        throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
      },
    });
    expect(running.config).toMatchObject({ password: 'from-file' });
  });

  it('name the device, the field and file:line:col when the variable is not set', () => {
    const { device } = load(text);
    const error = (() => {
      try {
        resolveSecrets(device!, { env: {} });
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(SecretUnresolved);
    expect(error).toMatchObject({
      code: 'SECRET_UNRESOLVED',
      message: `device default/tank-01: spec.protocol.configData.password (devices/tank.yaml:${passwordLine}:17): environment variable TANK_PASSWORD is not set`,
    });
  });

  it('name the file that cannot be read', () => {
    const { device } = load(
      tank('      userName: operator\n      password: ${file:/nonexistent/edgetwin/pw}\n'),
    );
    expect(() => resolveSecrets(device!)).toThrow(
      /^device default\/tank-01: spec\.protocol\.configData\.password \(devices\/tank\.yaml:\d+:17\): cannot read \/nonexistent\/edgetwin\/pw \(ENOENT\)$/,
    );
  });

  it('are placed on the model when its protocolConfigData has them', () => {
    const withModel = tank(
      '      userName: operator\n',
      '  protocolConfigData:\n    password: ${env:MODEL_PW}\n',
    );
    const line = withModel.split('\n').indexOf('    password: ${env:MODEL_PW}') + 1;
    const { device, problems } = load(withModel);
    expect(problems).toEqual([]);
    expect(device?.secrets?.[0]).toMatchObject({
      field: 'spec.protocolConfigData.password',
      at: `devices/tank.yaml:${line}:15`,
    });
  });

  it('take $${…} as the literal text ${…}', () => {
    const { device } = load(tank('      userName: operator\n      password: $${env:NOT_A_REF}\n'));
    expect(device?.secrets).toBeUndefined();
    expect(device?.config.password).toBe('${env:NOT_A_REF}');
  });

  it('refuse a malformed reference with its position, and warn about an unknown kind', () => {
    const bad = load(tank('      userName: operator\n      password: ${file:relative/pw}\n'));
    expect(bad.problems.map(formatProblem)).toEqual([
      expect.stringMatching(
        /^devices\/tank\.yaml:\d+:17 {2}spec\.protocol\.configData\.password {2}\$\{file:relative\/pw\}: the path must be absolute$/,
      ),
    ]);
    const unknown = load(tank('      userName: operator\n      password: ${vault:tank}\n'));
    expect(unknown.problems).toEqual([]);
    expect(unknown.warnings.map((w) => w.message)).toEqual([
      '${vault:…} is not a secret reference (only ${env:NAME} and ${file:/path}); it is used as written',
    ]);
  });
});
