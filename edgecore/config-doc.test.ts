import { readFile, writeFile } from 'node:fs/promises';
import type { TSchema } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configDefaults, EdgeConfig } from './config.js';
import { configReference, configReferenceMarkdown, REFERENCE_BEGIN, REFERENCE_END } from './config-doc.js';

const readme = new URL('../README.md', import.meta.url);

/** Dotted paths of the fields (and sections) of `schema` that have no description. */
function undescribed(schema: TSchema, prefix = ''): string[] {
  const out: string[] = [];
  for (const [name, child] of Object.entries((schema.properties ?? {}) as Record<string, TSchema>)) {
    const path = prefix ? `${prefix}.${name}` : name;
    if (!child.description) out.push(path);
    out.push(...undescribed(child, path));
    const items = child.items as TSchema | undefined;
    if (items?.type === 'object') out.push(...undescribed(items, `${path}[]`));
  }
  return out;
}

describe('the edge.yaml reference', () => {
  it('describes every field', () => {
    expect(undescribed(EdgeConfig)).toEqual([]);
  });

  it('is a valid edge.yaml holding exactly the defaults', () => {
    expect(parse(configReference())).toEqual(configDefaults());
  });

  it('names every field, with its bounds and choices', () => {
    const text = configReference();
    expect(text).toContain('  # integer, 0 to 65535\n  port: 10350');
    expect(text).toContain('  # one of: internal | external | both\n  mode: internal');
    expect(text).toMatch(/\n {4}# password:\n/);
    expect(text).toContain('    #   role: one of: read | readwrite.');
  });

  // README.md holds the generated block verbatim; UPDATE_README=1 rewrites it (the markers must be there).
  it('is in README.md as generated', async () => {
    const text = await readFile(readme, 'utf8');
    const begin = text.indexOf(REFERENCE_BEGIN);
    const end = text.indexOf(REFERENCE_END, begin);
    expect(begin, `README.md has no line ${REFERENCE_BEGIN}`).toBeGreaterThanOrEqual(0);
    expect(end, `README.md has no line ${REFERENCE_END} after the first marker`).toBeGreaterThan(begin);
    const block = text.slice(begin, end + REFERENCE_END.length + 1);
    if (process.env.UPDATE_README && block !== configReferenceMarkdown()) {
      await writeFile(readme, text.replace(block, configReferenceMarkdown()));
      return;
    }
    expect(
      block,
      'the reference in README.md is stale: UPDATE_README=1 npx vitest run edgecore/config-doc.test.ts',
    ).toBe(configReferenceMarkdown());
  });
});
