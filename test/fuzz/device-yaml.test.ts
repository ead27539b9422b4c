import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  formatProblem,
  fromValue,
  parseSource,
  validateFiles,
  validateObjects,
} from '../../device-models/internal.js';
import { deviceYamlText, fuzzDeviceObjects, mutatedObjects } from './arbitraries.js';
import { fuzzParams, fuzzTimeout } from './fuzz-params.js';

/**
 * Device YAML fuzzed: whatever the text or the objects, validation returns problems (each with a file, a
 * position, a path and a message) and never throws; a pair that is valid resolves to a device.
 */

function checkProblems(problems: readonly unknown[]): void {
  for (const problem of problems) {
    expect(problem).toMatchObject({
      file: expect.any(String),
      line: expect.any(Number),
      col: expect.any(Number),
      path: expect.any(String),
      message: expect.any(String),
    });
    expect(typeof formatProblem(problem as Parameters<typeof formatProblem>[0])).toBe('string');
  }
}

describe('fuzzing device YAML validation', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fuzz-yaml-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the unmutated pair is valid (the generators start from a working device)', () => {
    const result = validateObjects(fuzzDeviceObjects().map((o) => fromValue(o, 'fuzz')));
    expect(result.problems).toEqual([]);
    expect(result.devices).toHaveLength(1);
  });

  it('reports an alias bomb (billion laughs) as a problem of its file, not by throwing', async () => {
    const file = join(dir, 'bomb.yaml');
    await writeFile(
      file,
      'a: &a [1,2]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n',
    );
    const result = await validateFiles([file]);
    expect(result.problems).toEqual([expect.objectContaining({ file, severity: 'error' })]);
  });

  it(
    'parses and validates any text without throwing',
    () => {
      fc.assert(
        fc.property(deviceYamlText, (text) => {
          const parsed = parseSource('fuzz.yaml', text);
          checkProblems(parsed.problems);
          const result = validateObjects(parsed.objects);
          checkProblems(result.problems);
          checkProblems(result.warnings);
          expect(Array.isArray(result.devices)).toBe(true);
        }),
        fuzzParams(300),
      );
    },
    fuzzTimeout(20_000),
  );

  it(
    'validates mutated objects (as the cloud sends them) without throwing',
    () => {
      fc.assert(
        fc.property(mutatedObjects, (objects) => {
          const result = validateObjects(objects.map((o) => fromValue(o, 'cloud:fuzz')));
          checkProblems(result.problems);
          // A device is resolved only when nothing is wrong with it.
          if (result.problems.length > 0) expect(result.devices.length).toBeLessThanOrEqual(1);
        }),
        fuzzParams(300),
      );
    },
    fuzzTimeout(20_000),
  );

  it(
    'validates files without throwing',
    async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(deviceYamlText, async (text) => {
          const file = join(dir, `f${n++}.yaml`);
          await writeFile(file, text);
          const result = await validateFiles([file]);
          checkProblems(result.problems);
        }),
        fuzzParams(60),
      );
    },
    fuzzTimeout(20_000),
  );
});
