import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parseAllDocuments } from 'yaml';
import { compareText } from '../compare-text.js';
import type { PathSegment, Problem } from './problems.js';

/** Files larger than this are refused before they are read (a Kubernetes object is at most ~1.5 MB). */
export const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** One object found in a file: a document, or one item of a `kind: List`. */
export interface SourceObject {
  file: string;
  value: unknown;
  /** Line and column (1-based) of the node at `path`, or of its closest existing ancestor. */
  locate(path: readonly PathSegment[]): { line: number; col: number };
}

export interface ParsedSources {
  objects: SourceObject[];
  problems: Problem[];
  files: number;
}

/** Expands directories (recursively, .yaml/.yml/.json, skipping dot-folders and node_modules) in a stable order. */
export async function expandPaths(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (info?.isDirectory()) {
      const entries = (await readdir(path, { withFileTypes: true })).sort((a, b) =>
        compareText(a.name, b.name),
      );
      const children = entries
        .filter((e) => !e.name.startsWith('.') && e.name !== 'node_modules')
        .filter((e) => e.isDirectory() || EXTENSIONS.has(extname(e.name)))
        .map((e) => join(path, e.name));
      out.push(...(await expandPaths(children)));
    } else out.push(path);
  }
  return out;
}

/** Reads and parses every file; problems (missing, too large, empty, YAML syntax) are collected, never thrown. */
export async function readSources(
  paths: readonly string[],
  options: { maxBytes?: number } = {},
): Promise<ParsedSources> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const result: ParsedSources = { objects: [], problems: [], files: 0 };
  for (const file of await expandPaths(paths)) {
    result.files++;
    const at = (message: string): Problem => ({
      file,
      line: 1,
      col: 1,
      path: '',
      message,
      severity: 'error',
    });
    const info = await stat(file).catch((error: NodeJS.ErrnoException) => error);
    if (info instanceof Error) {
      result.problems.push(at(info.code === 'ENOENT' ? 'no such file or directory' : info.message));
      continue;
    }
    if (info.size > maxBytes) {
      result.problems.push(
        at(`file is ${megabytes(info.size)}, larger than the ${megabytes(maxBytes)} limit`),
      );
      continue;
    }
    const parsed = parseSource(file, await readFile(file, 'utf8'));
    result.objects.push(...parsed.objects);
    result.problems.push(...parsed.problems);
  }
  return result;
}

function megabytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** Parses one file's text: multi-document YAML, or JSON (a YAML subset); `kind: …List` is split into its items. */
export function parseSource(file: string, text: string): Omit<ParsedSources, 'files'> {
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const problems: Problem[] = [];
  const objects: SourceObject[] = [];
  const position = (offset: number) => lineCounter.linePos(offset);
  if (!Array.isArray(documents)) return { objects, problems };
  for (const doc of documents) {
    if (doc.errors.length > 0) {
      for (const error of doc.errors) {
        const { line, col } = position(error.pos[0]);
        problems.push({
          file,
          line,
          col,
          path: '',
          message: `YAML syntax: ${firstLine(error.message)}`,
          severity: 'error',
        });
      }
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      // yaml refuses aliases that would expand past maxAliasCount (a "billion laughs" file): a problem of
      // this document, at its start, like a syntax error.
      const { line, col } = position(doc.range[0]);
      problems.push({
        file,
        line,
        col,
        path: '',
        message: `YAML: ${firstLine((error as Error).message)}`,
        severity: 'error',
      });
      continue;
    }
    if (value === null || value === undefined) continue;
    const locate = (path: readonly PathSegment[]) => position(offsetOf(doc, path));
    const items = listItems(value);
    if (!items) objects.push({ file, value, locate });
    else
      for (const [i, item] of items.entries())
        objects.push({ file, value: item, locate: (p) => locate(['items', i, ...p]) });
  }
  if (objects.length === 0 && problems.length === 0)
    problems.push({
      file,
      line: 1,
      col: 1,
      path: '',
      message: 'file is empty: no documents',
      severity: 'error',
    });
  return { objects, problems };
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

/** `kind: List` (kubectl get -o yaml) and `kind: DeviceList`/`DeviceModelList` carry their objects in `items`. */
function listItems(value: unknown): unknown[] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { kind, items } = value as { kind?: unknown; items?: unknown };
  return typeof kind === 'string' && kind.endsWith('List') && Array.isArray(items) ? items : undefined;
}

/** Offset of the node at `path`: a scalar's value, a key for a mapping, else the nearest existing ancestor. */
function offsetOf(doc: Document, path: readonly PathSegment[]): number {
  let node: unknown = doc.contents;
  let offset = (node as Node | null)?.range?.[0] ?? 0;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === segment);
      if (!pair) return offset;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number' && node.items[segment]) {
      node = node.items[segment];
      offset = (node as Node).range?.[0] ?? offset;
    } else return offset;
  }
  return isScalar(node) && node.range ? node.range[0] : offset;
}
