import type { Static, TSchema } from '@sinclair/typebox';
import type { ModelProperty } from '../schema/device-model.js';

/** One problem a protocol finds, with a path relative to the configData it was given. */
export interface Finding {
  path: (string | number)[];
  message: string;
}

/**
 * What a protocol contributes to validation: the schema of `protocol.configData` and of each property's
 * `visitors.configData`, plus optional checks that span fields (or the model property a visitor serves).
 */
export interface ProtocolSchemas<C extends TSchema = TSchema, V extends TSchema = TSchema> {
  name: string;
  config: C;
  visitor: V;
  /**
   * Other names of configData keys, as other mappers spell them (`serialPort` for `serialName`): a key under
   * its other name is read as the key, when the key itself is not given.
   */
  configAliases?: Readonly<Record<string, string>>;
  checkConfig?(config: Static<C>): Finding[];
  checkVisitor?(visitor: Static<V>, property: ModelProperty): Finding[];
  /** False for a visitor that is only written (e.g. a command); every visitor is read when absent. */
  isRead?(visitor: Static<V>): boolean;
}

/** Helper that keeps the schema types when defining a protocol. */
export function defineProtocol<C extends TSchema, V extends TSchema>(
  protocol: ProtocolSchemas<C, V>,
): ProtocolSchemas<C, V> {
  return protocol;
}
