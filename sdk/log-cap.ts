/**
 * Bounds what one log line can carry: long strings are cut (saying how much was cut), binary payloads are
 * shown by size, objects lose keys past `maxKeys` and levels past `maxDepth`, and once `maxTotal`
 * characters are spent the remaining fields are dropped. Errors are serialized here (type, message, code,
 * stack, cause), capped like the rest. Pure: the CLI applies it as pino's `formatters.log`.
 */
export interface LogCapOptions {
  /** Characters kept of one string (default 1,024). */
  maxString?: number;
  /** Keys kept of one object, items of one array (default 32). */
  maxKeys?: number;
  /** Nesting kept (default 4); deeper values become "[Object]" / "[Array]". */
  maxDepth?: number;
  /** Characters of strings and keys kept in one line (default 8,192). */
  maxTotal?: number;
}

export const LOG_CAP_DEFAULTS = { maxString: 1024, maxKeys: 32, maxDepth: 4, maxTotal: 8192 } as const;

/** `text` cut to `max` characters, saying how many were left out. */
export function capString(text: string, max: number = LOG_CAP_DEFAULTS.maxString): string {
  return text.length <= max ? text : `${text.slice(0, max)}…[+${text.length - max} chars]`;
}

const HEX_SHOWN = 32;

/** The fields of one log line, bounded (see LogCapOptions). The object given is not modified. */
export function capFields(
  obj: Record<string, unknown>,
  options: LogCapOptions = {},
): Record<string, unknown> {
  const limits = { ...LOG_CAP_DEFAULTS, ...options };
  let budget = limits.maxTotal;
  const seen = new Set<object>();

  const str = (text: string): string => {
    const kept = capString(text, Math.max(0, Math.min(limits.maxString, budget)));
    budget -= Math.min(text.length, limits.maxString);
    return kept;
  };

  const value = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return str(v);
    if (typeof v === 'bigint') return v.toString();
    if (typeof v !== 'object' || v === null) return v;
    if (v instanceof Uint8Array) {
      const shown = Buffer.from(v.buffer, v.byteOffset, Math.min(v.length, HEX_SHOWN)).toString('hex');
      return `[${v.length} bytes: ${shown}${v.length > HEX_SHOWN ? '…' : ''}]`;
    }
    if (v instanceof Date) return v.toISOString();
    if (seen.has(v)) return '[Circular]';
    if (depth >= limits.maxDepth) return Array.isArray(v) ? '[Array]' : '[Object]';
    seen.add(v);
    try {
      if (Array.isArray(v)) {
        const out = v.slice(0, limits.maxKeys).map((item) => (budget > 0 ? value(item, depth + 1) : '…'));
        if (v.length > limits.maxKeys) out.push(`…[+${v.length - limits.maxKeys} items]`);
        return out;
      }
      return object(v instanceof Error ? errorFields(v) : (v as Record<string, unknown>), depth);
    } finally {
      seen.delete(v);
    }
  };

  const object = (o: Record<string, unknown>, depth: number): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    const keys = Object.keys(o);
    let kept = 0;
    for (const key of keys) {
      if (kept >= limits.maxKeys || budget <= 0) break;
      budget -= key.length;
      out[key] = value(o[key], depth + 1);
      kept++;
    }
    if (kept < keys.length) out['…'] = `${keys.length - kept} more fields`;
    return out;
  };

  return object(obj, 0);
}

/** What pino's err serializer shows of an error, as plain data, so that it is capped like the rest. */
function errorFields(error: Error): Record<string, unknown> {
  const { name, message, stack, cause, ...own } = error as Error & Record<string, unknown>;
  return {
    type: error.constructor?.name ?? name,
    message,
    ...own,
    ...(stack ? { stack } : {}),
    ...(cause !== undefined ? { cause } : {}),
  };
}
