import { type Static, Type } from '@sinclair/typebox';
import { Closed, FreeForm, FreeFormOf, Millis, ObjectMeta, StringMap } from './common.js';
import { API_VERSION, VisitorConfig } from './device-model.js';
import { DeviceStatusFields } from './device-status.js';

const Str = (description?: string) => Type.Optional(Type.String(description ? { description } : {}));

/** A desired or reported value in a Device: the value as a string and its metadata. */
export const TwinProperty = Closed({
  value: Type.String({ description: 'The value as a string; the model type says how to parse it.' }),
  metadata: Type.Optional(StringMap),
});
export type TwinProperty = Static<typeof TwinProperty>;

export const PushMethodHTTP = Closed({
  hostName: Str('Base URL or host, e.g. http://127.0.0.1'),
  port: Type.Optional(Type.Integer()),
  requestPath: Str(),
  timeout: Type.Optional(Type.Integer({ description: 'Milliseconds.' })),
});

export const PushMethodMQTT = Closed({
  address: Str('Broker URL, e.g. tcp://127.0.0.1:1883'),
  topic: Str(),
  qos: Type.Optional(Type.Integer()),
  retained: Type.Optional(Type.Boolean()),
});

export const PushMethodOTEL = Closed({ endpointURL: Str('e.g. http://localhost:4318/v1/metrics') });

const Int = () => Type.Optional(Type.Integer());

export const DBMethodConfig = Closed({
  influxdb2: Type.Optional(
    Closed({
      influxdb2ClientConfig: Type.Optional(Closed({ url: Str(), org: Str(), bucket: Str() })),
      influxdb2DataConfig: Type.Optional(
        Closed({ measurement: Str(), tag: Type.Optional(StringMap), fieldKey: Str() }),
      ),
    }),
  ),
  redis: Type.Optional(
    Closed({
      redisClientConfig: Type.Optional(
        Closed({ addr: Str(), db: Int(), poolsize: Int(), minIdleConns: Int() }),
      ),
    }),
  ),
  TDEngine: Type.Optional(
    Closed({ TDEngineClientConfig: Type.Optional(Closed({ addr: Str(), dbName: Str() })) }),
  ),
  mysql: Type.Optional(
    Closed({ mysqlClientConfig: Type.Optional(Closed({ addr: Str(), database: Str(), userName: Str() })) }),
  ),
  Kwdb: Type.Optional(Closed({ KWDBClientConfig: Type.Optional(Closed({ addr: Str(), dbName: Str() })) })),
});

/** Where a property's collected values are also pushed (MQTT, HTTP, OTEL) or stored (`dbMethod`). */
export const PushMethod = Closed(
  {
    http: Type.Optional(PushMethodHTTP),
    mqtt: Type.Optional(PushMethodMQTT),
    otel: Type.Optional(PushMethodOTEL),
    dbMethod: Type.Optional(DBMethodConfig),
    anomalyDetection: Type.Optional(
      FreeFormOf(
        "Where an anomaly detection service takes the data (KubeEdge's mappers; edgetwin keeps it).",
      ),
    ),
  },
  'Where the mapper pushes each collected value, besides the twin.',
);
export type PushMethod = Static<typeof PushMethod>;

/*
 * Optionality follows KubeEdge's CRD, which requires nothing but `desired.value`; validation says what a device
 * cannot run without (a model reference, property names) with the file and line.
 */

export const DeviceProperty = Closed({
  name: Type.Optional(Type.String({ description: 'Must name a property of the model.' })),
  desired: Type.Optional(TwinProperty),
  visitors: Type.Optional(VisitorConfig),
  collectCycle: Type.Optional(Millis('How often the mapper reads the device, in ms (0 means 1000).')),
  reportCycle: Type.Optional(Millis('How often the value is reported, in ms (0 means 1000).')),
  reportToCloud: Type.Optional(Type.Boolean()),
  pushMethod: Type.Optional(PushMethod),
});
export type DeviceProperty = Static<typeof DeviceProperty>;

/** A Device's `spec.protocol`: the protocol's name and its `configData`. */
export const ProtocolConfig = Closed({
  protocolName: Type.Optional(
    Type.String({ description: "Any name; without one, the DeviceModel's spec.protocol is used." }),
  ),
  configData: Type.Optional(FreeForm),
});
export type ProtocolConfig = Static<typeof ProtocolConfig>;

export const DeviceMethod = Closed({
  name: Type.Optional(Type.String()),
  description: Str(),
  propertyNames: Type.Optional(Type.Array(Type.String())),
});

export const StateReport = Closed(
  {
    reportToCloud: Type.Optional(Type.Boolean()),
    reportCycle: Type.Optional(Millis('How often device state is reported, in ms (0 means 1000).')),
  },
  'Whether and how often the device state (online/offline) is reported.',
);

/** A Device's `spec`: its model, node, protocol and properties (visitors, desired values, push methods). */
export const DeviceSpec = Closed({
  deviceModelRef: Type.Optional(
    Closed({ name: Type.Optional(Type.String()) }, 'The DeviceModel in the same namespace.'),
  ),
  nodeName: Str('The edge node that runs this device; empty means none.'),
  protocol: Type.Optional(ProtocolConfig),
  properties: Type.Optional(Type.Array(DeviceProperty)),
  methods: Type.Optional(Type.Array(DeviceMethod)),
  stateReport: Type.Optional(StateReport),
});
export type DeviceSpec = Static<typeof DeviceSpec>;

/** A KubeEdge Device: one physical device, an instance of a DeviceModel, reached through a protocol. */
export const Device = Closed({
  apiVersion: Type.Literal(API_VERSION),
  kind: Type.Literal('Device'),
  metadata: ObjectMeta,
  spec: Type.Optional(DeviceSpec),
  status: Type.Optional(DeviceStatusFields),
});
export type Device = Static<typeof Device>;
