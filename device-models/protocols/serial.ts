import { type Static, Type } from '@sinclair/typebox';
import { Closed, Numeric, StringEnum } from '../schema/common.js';
import { defineProtocol, type Finding } from './types.js';

/** `configData` of a serial-line device: the port and its line settings. */
export const SerialConfig = Closed({
  serialName: Type.String({ minLength: 1, description: 'e.g. /dev/ttyUSB0' }),
  baudRate: Type.Optional(Numeric({ integer: true, minimum: 50 })),
  dataBits: Type.Optional(Numeric({ integer: true, minimum: 5, maximum: 8 })),
  stopBits: Type.Optional(Numeric({ minimum: 1, maximum: 2 })),
  parity: Type.Optional(StringEnum(['none', 'even', 'odd', 'mark', 'space'] as const)),
  delimiter: Type.Optional(Type.String({ minLength: 1, description: 'Line end, default "\\r\\n"' })),
});
export type SerialConfig = Static<typeof SerialConfig>;

/** `visitors.configData` of a serial property: what to send, and how to find the value in the answer. */
export const SerialVisitor = Closed({
  request: Type.Optional(Type.String({ description: 'Bytes to send; omit for a device that streams.' })),
  pattern: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'Regex whose group "value" is the reading; omit for a command.',
    }),
  ),
  writeTemplate: Type.Optional(
    Type.String({ description: 'e.g. "SET {value}\\r\\n"; without {value} it is a command, e.g. tare' }),
  ),
  ackPattern: Type.Optional(Type.String({ description: 'Regex the device answers a write with.' })),
  timeout: Type.Optional(Numeric({ integer: true, minimum: 1, description: 'ms' })),
});
export type SerialVisitor = Static<typeof SerialVisitor>;

function regexProblem(source: string, field: string, needsValueGroup: boolean): Finding[] {
  try {
    const re = new RegExp(source);
    if (needsValueGroup && !/\(\?<value>/.test(re.source))
      return [{ path: [field], message: 'must contain a named group (?<value>…)' }];
    return [];
  } catch (error) {
    return [{ path: [field], message: `is not a valid regular expression: ${(error as Error).message}` }];
  }
}

/** The built-in `serial` protocol's schemas and checks (its mapper is in mappers/serial). */
export const serial = defineProtocol({
  protocol: 'serial',
  configSchema: SerialConfig,
  visitorSchema: SerialVisitor,
  // Without a pattern there is nothing to read: the visitor is a command (e.g. tare).
  isRead: (visitor) => visitor.pattern !== undefined,
  checkVisitor(visitor, property) {
    const findings: Finding[] = [];
    if (visitor.pattern === undefined && visitor.writeTemplate === undefined)
      findings.push({
        path: [],
        message: 'needs a pattern (to read) or a writeTemplate (to write), or both',
      });
    if (visitor.pattern !== undefined) findings.push(...regexProblem(visitor.pattern, 'pattern', true));
    if (visitor.ackPattern !== undefined)
      findings.push(...regexProblem(visitor.ackPattern, 'ackPattern', false));
    if ((property.accessMode ?? 'ReadWrite') === 'ReadWrite' && visitor.writeTemplate === undefined)
      findings.push({
        path: [],
        message: `property "${property.name}" is ReadWrite but has no writeTemplate`,
      });
    return findings;
  },
});
