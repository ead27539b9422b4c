import { type Static, Type } from '@sinclair/typebox';
import { Boolish, Closed, Numeric, StringEnum } from '../schema/common.js';
import { defineProtocol } from './types.js';

export const OPCUA_SECURITY_POLICIES = [
  'None',
  'Basic128Rsa15',
  'Basic256',
  'Basic256Sha256',
  'Aes128_Sha256_RsaOaep',
  'Aes256_Sha256_RsaPss',
] as const;

/** `configData` of an OPC UA device: the endpoint URL, security policy and mode, and credentials. */
export const OpcuaConfig = Closed({
  url: Type.String({ pattern: '^opc\\.tcp://', description: 'Endpoint, e.g. opc.tcp://plc:4840' }),
  securityPolicy: Type.Optional(StringEnum(OPCUA_SECURITY_POLICIES)),
  securityMode: Type.Optional(StringEnum(['None', 'Sign', 'SignAndEncrypt'] as const)),
  userName: Type.Optional(Type.String()),
  password: Type.Optional(Type.String()),
  certificate: Type.Optional(Type.String({ description: 'Path of the client certificate (PEM).' })),
  privateKey: Type.Optional(Type.String({ description: 'Path of the client private key (PEM).' })),
  timeout: Type.Optional(Numeric({ integer: true, minimum: 1, description: 'Request timeout in ms.' })),
});
export type OpcuaConfig = Static<typeof OpcuaConfig>;

/** `visitors.configData` of an OPC UA property: the node id of the variable. */
export const OpcuaVisitor = Closed({
  nodeID: Type.String({
    pattern: '^(ns=\\d+;)?[isgb]=.+$',
    description: 'Node id, e.g. ns=1;s=Temperature or i=2258',
  }),
  browseName: Type.Optional(Type.String()),
  subscribe: Type.Optional(Boolish('Use a monitored item instead of polling (edgetwin).')),
});
export type OpcuaVisitor = Static<typeof OpcuaVisitor>;

/** The built-in `opcua` protocol's schemas (its mapper is in mappers/opcua). */
export const opcua = defineProtocol({
  protocol: 'opcua',
  configSchema: OpcuaConfig,
  visitorSchema: OpcuaVisitor,
  checkConfig(config) {
    const secure = config.securityMode !== undefined && config.securityMode !== 'None';
    if (secure && (config.securityPolicy ?? 'None') === 'None')
      return [
        { path: ['securityPolicy'], message: `securityMode ${config.securityMode} needs a securityPolicy` },
      ];
    if (config.userName !== undefined && config.password === undefined)
      return [{ path: ['password'], message: 'is required when userName is given' }];
    return [];
  },
});
