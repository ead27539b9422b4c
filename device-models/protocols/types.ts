import type { Static, TSchema } from '@sinclair/typebox';
import type { ModelProperty } from '../schema/device-model.js';

/** One problem a protocol finds, with a path relative to the configData it was given. */
export interface Finding {
  /** Where, relative to the configData (or visitor) checked, e.g. `['baudRate']`. */
  path: (string | number)[];
  /** What is wrong, for a person: `edgetwin validate` prints it after the path. */
  message: string;
}

/**
 * What validation reads of a protocol: the schema of `protocol.configData` and of each property's
 * `visitors.configData`, plus optional checks that span fields (or the model property a visitor serves).
 * A mapper's `ProtocolRegistration` (edgetwin/sdk) is one of these plus its driver and simulator.
 */
export interface ProtocolDefinition<C extends TSchema = TSchema, V extends TSchema = TSchema> {
  /** The name in `spec.protocol.protocolName` (and `visitors.protocolName`); compared exactly. */
  protocol: string;
  /** TypeBox (or plain JSON Schema) of `protocol.configData`, model and device merged. */
  configSchema: C;
  /** TypeBox (or plain JSON Schema) of each property's `visitors.configData`. */
  visitorSchema: V;
  /**
   * Other names of configData keys, as other mappers spell them (`serialPort` for `serialName`): a key under
   * its other name is read as the key, when the key itself is not given.
   */
  configAliases?: Readonly<Record<string, string>>;
  /** Checks across fields of a schema-valid configData (e.g. RTU needs `serialName`); none when absent. */
  checkConfig?(config: Static<C>): Finding[];
  /** Checks of a schema-valid visitor against the model property it serves (e.g. a data type too small). */
  checkVisitor?(visitor: Static<V>, property: ModelProperty): Finding[];
  /** False for a visitor that is only written (e.g. a command); every visitor is read when absent. */
  isRead?(visitor: Static<V>): boolean;
}

/**
 * @deprecated The shape `registerProtocol` took before registration objects (`name`, `config`, `visitor`);
 * still accepted by `registerProtocol`. Use `ProtocolDefinition` (or a `ProtocolRegistration`).
 */
export interface ProtocolSchemas<C extends TSchema = TSchema, V extends TSchema = TSchema>
  extends Omit<ProtocolDefinition<C, V>, 'protocol' | 'configSchema' | 'visitorSchema'> {
  name: string;
  config: C;
  visitor: V;
}

/** Helper that keeps the schema types when defining a protocol. */
export function defineProtocol<C extends TSchema, V extends TSchema>(
  protocol: ProtocolDefinition<C, V>,
): ProtocolDefinition<C, V> {
  return protocol;
}

/** A protocol in either shape, as a `ProtocolDefinition` (the old `{name, config, visitor}` is converted). */
export function asDefinition(protocol: ProtocolDefinition | ProtocolSchemas): ProtocolDefinition {
  if (!('name' in protocol) || 'protocol' in protocol) return protocol as ProtocolDefinition;
  const { name, config, visitor, ...rest } = protocol;
  return { ...rest, protocol: name, configSchema: config, visitorSchema: visitor };
}
