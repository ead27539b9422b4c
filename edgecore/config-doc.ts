import type { TSchema } from '@sinclair/typebox';
import { stringify } from 'yaml';
import { EdgeConfig } from './config.js';

/** The lines around the reference in README.md; the test finds the block between them. */
export const REFERENCE_BEGIN =
  '<!-- edge.yaml reference: generated from edgecore/config.ts by `edgetwin edge --print-config-reference`; ' +
  'UPDATE_README=1 npx vitest run edgecore/config-doc.test.ts rewrites it -->';
export const REFERENCE_END = '<!-- end of the edge.yaml reference -->';

const WIDTH = 110;

/**
 * edge.yaml with every field at its default, each under its description, type and bounds, generated from
 * the schema: a valid edge.yaml as it is (fields with no default are commented out).
 */
export function configReference(schema: TSchema = EdgeConfig): string {
  const lines = [
    '# edge.yaml: every field, at its default. Any field can also be set in the environment, EDGETWIN_ and its',
    '# path with levels joined by __ (EDGETWIN_HTTP__PORT=10351), or by edgetwin edge --set http.port=10351.',
    '# Precedence: defaults < this file < environment < --set.',
  ];
  fields(schema, '', lines);
  return `${lines.join('\n')}\n`;
}

/** The reference as README.md holds it: between its markers, in a yaml code block. */
export function configReferenceMarkdown(): string {
  return `${REFERENCE_BEGIN}\n\`\`\`yaml\n${configReference()}\`\`\`\n${REFERENCE_END}\n`;
}

/** Fields of `schema`, property by property, every level indented two more spaces. */
function fields(schema: TSchema, indent: string, lines: string[]): void {
  for (const [i, [name, child]] of Object.entries(
    (schema.properties ?? {}) as Record<string, TSchema>,
  ).entries()) {
    if (i > 0 || !indent) lines.push('');
    comment(child.description ?? '', indent, lines);
    if (child.type === 'object' && child.properties) {
      lines.push(`${indent}${name}:`);
      fields(child, `${indent}  `, lines);
      continue;
    }
    const type = typeOf(child);
    if (type) lines.push(`${indent}# ${type}`);
    if (child.type === 'array' && (child.items as TSchema).type === 'object')
      for (const [item, itemSchema] of Object.entries((child.items as TSchema).properties as object))
        comment(
          `  ${item}: ${typeOf(itemSchema as TSchema) || 'string'}. ${(itemSchema as TSchema).description ?? ''}`,
          indent,
          lines,
        );
    if (child.default === undefined) lines.push(`${indent}# ${name}:`);
    else lines.push(`${indent}${name}: ${stringify(child.default, { collectionStyle: 'flow' }).trimEnd()}`);
  }
}

/** The type and bounds, when the default value does not say it all. */
function typeOf(schema: TSchema): string {
  if (Array.isArray(schema.enum)) return `one of: ${schema.enum.join(' | ')}`;
  const { minimum, maximum, exclusiveMinimum, minLength, pattern } = schema;
  const bounds = [
    minimum !== undefined && maximum !== undefined && `${minimum} to ${maximum}`,
    minimum !== undefined && maximum === undefined && `≥ ${minimum}`,
    exclusiveMinimum !== undefined && `> ${exclusiveMinimum}`,
    minLength === 1 && 'not empty',
    minLength !== undefined && minLength > 1 && `at least ${minLength} characters`,
    pattern !== undefined && `matching ${pattern}`,
  ].filter(Boolean);
  const suffix = bounds.length > 0 ? `, ${bounds.join(', ')}` : '';
  switch (schema.type) {
    case 'integer':
    case 'number':
      return `${schema.type}${suffix}`;
    case 'boolean':
      return '';
    case 'array': {
      const items = schema.items as TSchema;
      if (items.type === 'object') return 'list of:';
      return `list of ${items.type ?? 'value'}s${items.minLength === 1 ? ', none empty' : ''}`;
    }
    default:
      return bounds.length > 0 ? `string${suffix}` : '';
  }
}

/** `text` as `#` lines of at most WIDTH characters. */
function comment(text: string, indent: string, lines: string[]): void {
  const lead = /^ */.exec(text)![0];
  let line = '';
  for (const word of text.trim().split(/\s+/)) {
    if (line && indent.length + 2 + lead.length + line.length + 1 + word.length > WIDTH) {
      lines.push(`${indent}# ${lead}${line}`);
      line = '';
    }
    line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(`${indent}# ${lead}${line}`);
}
