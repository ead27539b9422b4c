import { type Static, Type } from '@sinclair/typebox';
import { Closed, defineProtocol, Numeric, StringEnum } from '../../device-models/index.js';
import { placeholders, VALUE_PLACEHOLDER } from './json-pointer.js';

/** An RFC 6901 JSON pointer: empty (the whole document) or `/`-separated tokens, `~0` for `~`, `~1` for `/`. */
const POINTER_PATTERN = '^(/([^~]|~[01])*)*$';

export const HttpConfig = Closed({
  baseURL: Type.String({
    pattern: '^https?://[^\\s/?#]+[^\\s?#]*$',
    description:
      'Where the device answers, e.g. http://192.168.1.40 or https://plc.local:8443/api; visitor paths are relative to it.',
  }),
  headers: Type.Optional(
    Type.Unsafe<Record<string, string>>({
      type: 'object',
      additionalProperties: { type: 'string' },
      description: `Headers sent with every request, e.g. Authorization; a value may be a secret reference (\${env:NAME} or \${file:/path}).`,
    }),
  ),
  timeoutMs: Type.Optional(
    Numeric({ integer: true, minimum: 1, description: 'How long one request may take, ms (default 2000).' }),
  ),
});
export type HttpConfig = Static<typeof HttpConfig>;

export const HttpVisitor = Closed({
  method: Type.Optional(
    StringEnum(
      ['GET', 'POST'] as const,
      'How the value is read: GET (default), or POST for an RPC-style API.',
    ),
  ),
  path: Type.String({
    description:
      'Path of the resource holding the value, relative to baseURL, e.g. /status; may carry a query.',
  }),
  pointer: Type.Optional(
    Type.String({
      pattern: POINTER_PATTERN,
      description:
        'RFC 6901 JSON pointer to the value in the response, e.g. /meters/0/power; empty (default) for the whole response.',
    }),
  ),
  writeMethod: Type.Optional(
    StringEnum(['PUT', 'POST', 'PATCH'] as const, 'How a value is written: PUT (default), POST or PATCH.'),
  ),
  writePath: Type.Optional(Type.String({ description: 'Path a value is written to; default `path`.' })),
  body: Type.Optional(
    Type.Unknown({
      description: `JSON body of a write: every string "\${value}" in it becomes the value with its type (a number stays a number, a boolean a boolean), e.g. {"id": 0, "on": "\${value}"}; inside a longer string it is put in as text. Default: the value placed at writePointer.`,
    }),
  ),
  writePointer: Type.Optional(
    Type.String({
      pattern: POINTER_PATTERN,
      description:
        'Without a body: where the value goes in the JSON written, e.g. /relay/on writes {"relay": {"on": true}}; default `pointer` (the shape it is read in), empty for the bare value.',
    }),
  ),
});
export type HttpVisitor = Static<typeof HttpVisitor>;

/** What validation reads of the http protocol: its schemas, and a check that a body template has a placeholder. */
export const http = defineProtocol({
  protocol: 'http',
  configSchema: HttpConfig,
  visitorSchema: HttpVisitor,
  checkVisitor(visitor) {
    if (visitor.body === undefined || placeholders(visitor.body) > 0) return [];
    return [
      { path: ['body'], message: `has no "${VALUE_PLACEHOLDER}": every write would send the same body` },
    ];
  },
});
