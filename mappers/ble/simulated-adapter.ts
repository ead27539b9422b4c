import { EventEmitter } from 'node:events';
import type { BleConfig, BleVisitor, ResolvedDevice, TwinValue } from '../../device-models/index.js';
import { decodeProperty, encodeProperty, normalizeUuid, peripheralId, valueLength } from './encoding.js';

/** The service every simulated peripheral holds its characteristics in. */
export const SIMULATED_SERVICE_UUID = 'edce0001a3b14c5d9e6f7a8b9c0d1e2f';
/** HCI reasons a simulated link ends with. */
const REMOTE_USER_TERMINATED = 0x13;
const CONNECTION_TIMEOUT = 0x08;
const LOCAL_HOST_TERMINATED = 0x16;

export interface SimulatedCharacteristic {
  uuid: string;
  properties: string[];
  value: Buffer;
}

/** A peripheral on the simulated radio: what a BLE device looks like from the air. */
export class SimulatedPeripheral extends EventEmitter {
  /** noble's peripheral uuid: the address in lower case without separators. */
  readonly id: string;
  readonly address: string;
  readonly serviceUuid = SIMULATED_SERVICE_UUID;
  readonly characteristics = new Map<string, SimulatedCharacteristic>();
  /** When true the peripheral answers no request and sends no notification. */
  silent = false;

  constructor(
    address: string,
    readonly localName: string,
  ) {
    super();
    this.address = address.toLowerCase().replaceAll('-', ':');
    this.id = peripheralId(address);
  }

  /** Sets a characteristic's value; notifies subscribers when it changed. */
  update(uuid: string, value: Buffer): void {
    const characteristic = this.characteristics.get(uuid);
    if (!characteristic || characteristic.value.equals(value)) return;
    characteristic.value = value;
    if (!this.silent) this.emit('changed', uuid, value);
  }
}

/** The air that simulated peripherals advertise on and simulated adapters scan. */
export class SimulatedRadio extends EventEmitter {
  private readonly peripherals = new Map<string, SimulatedPeripheral>();

  advertise(peripheral: SimulatedPeripheral): void {
    if (this.peripherals.has(peripheral.id))
      throw new Error(`a peripheral ${peripheral.address} is already on the radio`);
    this.peripherals.set(peripheral.id, peripheral);
    this.emit('advertise', peripheral);
  }

  /** Takes a peripheral off the air: its links drop (supervision timeout). */
  withdraw(peripheral: SimulatedPeripheral): void {
    if (this.peripherals.get(peripheral.id) !== peripheral) return;
    this.peripherals.delete(peripheral.id);
    peripheral.emit('linkLost', CONNECTION_TIMEOUT);
  }

  /** Drops every link to the peripheral at `address`, which stays on the air (the device hung up). */
  disconnectPeripheral(address: string): void {
    this.peripherals.get(peripheralId(address))?.emit('linkLost', REMOTE_USER_TERMINATED);
  }

  find(id: string): SimulatedPeripheral | undefined {
    return this.peripherals.get(id);
  }

  all(): SimulatedPeripheral[] {
    return [...this.peripherals.values()];
  }

  /** A new host adapter on this radio: a noble bindings object. */
  createBindings(): SimulatedBindings {
    return new SimulatedBindings(this);
  }
}

interface Link {
  peripheral: SimulatedPeripheral;
  subscribed: Set<string>;
  onChanged: (uuid: string, value: Buffer) => void;
  onLost: (reason: number) => void;
}

/**
 * A noble bindings object over a SimulatedRadio: implements the methods noble calls and emits the events
 * noble expects (the same contract as lib/hci-socket/bindings.js), so noble's own code runs above it.
 */
export class SimulatedBindings extends EventEmitter {
  private scanning = false;
  private readonly links = new Map<string, Link>();
  private readonly onAdvertise = (peripheral: SimulatedPeripheral) => this.discovered(peripheral);

  constructor(private readonly radio: SimulatedRadio) {
    super();
  }

  init(): void {
    this.later('addressChange', '00:00:5e:00:53:01');
    this.later('stateChange', 'poweredOn');
  }

  setScanParameters(): void {
    this.later('scanParametersSet');
  }

  startScanning(_serviceUuids?: string[], _allowDuplicates?: boolean): void {
    if (!this.scanning) this.radio.on('advertise', this.onAdvertise);
    this.scanning = true;
    this.later('scanStart', false);
    setImmediate(() => {
      if (!this.scanning) return;
      for (const peripheral of this.radio.all()) this.discovered(peripheral);
    });
  }

  stopScanning(): void {
    this.radio.off('advertise', this.onAdvertise);
    this.scanning = false;
    this.later('scanStop');
  }

  reset(): void {
    this.stopScanning();
    for (const id of [...this.links.keys()]) this.disconnect(id);
  }

  /** Releases this adapter's hold on the radio (no events follow). */
  stop(): void {
    this.radio.off('advertise', this.onAdvertise);
    this.scanning = false;
    for (const id of [...this.links.keys()]) this.unlink(id);
  }

  connect(id: string): void {
    const peripheral = this.radio.find(id);
    if (!peripheral || peripheral.silent) {
      this.later('connect', id, new Error('connection failed: no answer from the peripheral'));
      return;
    }
    if (this.links.has(id)) {
      this.later('connect', id, null);
      return;
    }
    const link: Link = {
      peripheral,
      subscribed: new Set(),
      onChanged: (uuid, value) => {
        if (link.subscribed.has(uuid)) this.later('read', id, peripheral.serviceUuid, uuid, value, true);
      },
      onLost: (reason) => {
        this.unlink(id);
        this.later('disconnect', id, reason);
      },
    };
    peripheral.on('changed', link.onChanged);
    peripheral.on('linkLost', link.onLost);
    this.links.set(id, link);
    this.later('connect', id, null);
  }

  cancelConnect(_id: string): void {}

  disconnect(id: string): void {
    this.unlink(id);
    this.later('disconnect', id, LOCAL_HOST_TERMINATED);
  }

  updateRssi(id: string): void {
    if (this.links.has(id)) this.later('rssiUpdate', id, -60);
  }

  discoverServices(id: string, uuids: string[] = []): void {
    const link = this.answering(id);
    if (!link) return;
    const service = link.peripheral.serviceUuid;
    const wanted = uuids.length === 0 || uuids.map(normalizeUuid).includes(service);
    this.later('servicesDiscover', id, wanted ? [service] : []);
  }

  discoverIncludedServices(id: string, serviceUuid: string): void {
    if (this.answering(id)) this.later('includedServicesDiscover', id, serviceUuid, []);
  }

  discoverCharacteristics(id: string, serviceUuid: string, uuids: string[] = []): void {
    const link = this.answering(id);
    if (!link) return;
    const wanted = uuids.map(normalizeUuid);
    const found =
      serviceUuid === link.peripheral.serviceUuid
        ? [...link.peripheral.characteristics.values()]
            .filter((c) => wanted.length === 0 || wanted.includes(c.uuid))
            .map((c) => ({ uuid: c.uuid, properties: [...c.properties] }))
        : [];
    this.later('characteristicsDiscover', id, serviceUuid, found);
  }

  discoverDescriptors(id: string, serviceUuid: string, uuid: string): void {
    if (this.answering(id)) this.later('descriptorsDiscover', id, serviceUuid, uuid, []);
  }

  read(id: string, serviceUuid: string, uuid: string): void {
    const characteristic = this.answering(id)?.peripheral.characteristics.get(uuid);
    if (characteristic?.properties.includes('read'))
      this.later('read', id, serviceUuid, uuid, Buffer.from(characteristic.value), false);
  }

  write(id: string, serviceUuid: string, uuid: string, data: Buffer, withoutResponse: boolean): void {
    const link = this.answering(id);
    const characteristic = link?.peripheral.characteristics.get(uuid);
    if (!link || !characteristic) return;
    const allowed = characteristic.properties.includes(withoutResponse ? 'writeWithoutResponse' : 'write');
    if (!allowed) return;
    link.peripheral.update(uuid, Buffer.from(data));
    link.peripheral.emit('written', uuid, Buffer.from(data));
    if (!withoutResponse) this.later('write', id, serviceUuid, uuid);
  }

  broadcast(id: string, serviceUuid: string, uuid: string, broadcast: boolean): void {
    if (this.answering(id)) this.later('broadcast', id, serviceUuid, uuid, broadcast);
  }

  notify(id: string, serviceUuid: string, uuid: string, notify: boolean): void {
    const link = this.answering(id);
    const characteristic = link?.peripheral.characteristics.get(uuid);
    if (!link || !characteristic) return;
    if (notify && characteristic.properties.includes('notify')) link.subscribed.add(uuid);
    else link.subscribed.delete(uuid);
    this.later('notify', id, serviceUuid, uuid, link.subscribed.has(uuid));
  }

  private discovered(peripheral: SimulatedPeripheral): void {
    if (!this.scanning || this.links.has(peripheral.id)) return;
    const advertisement = {
      localName: peripheral.localName,
      serviceUuids: [peripheral.serviceUuid],
      serviceData: [],
      manufacturerData: undefined,
      txPowerLevel: undefined,
      serviceSolicitationUuids: [],
      solicitationServiceUuids: [],
    };
    this.later('discover', peripheral.id, peripheral.address, 'public', true, advertisement, -60, true);
  }

  /** The link to `id` if the peripheral is there and answering; else the request goes unanswered. */
  private answering(id: string): Link | undefined {
    const link = this.links.get(id);
    return link && !link.peripheral.silent ? link : undefined;
  }

  private unlink(id: string): void {
    const link = this.links.get(id);
    if (!link) return;
    link.peripheral.off('changed', link.onChanged);
    link.peripheral.off('linkLost', link.onLost);
    this.links.delete(id);
  }

  /** Emits on a later turn, as a radio would answer. */
  private later(event: string, ...args: unknown[]): void {
    setImmediate(() => this.emit(event, ...args));
  }
}

export interface BleSimulatorOptions {
  /** The radio to advertise on; share one between simulators and the driver's bindings. Default: a new one. */
  radio?: SimulatedRadio;
  /** How often ReadOnly values move, ms; default 100. */
  tickMs?: number;
  /** The period of a ReadOnly value's wave, ms; default 60 000. */
  periodMs?: number;
}

export interface BleSimulator {
  readonly radio: SimulatedRadio;
  /** One bindings object on the simulator's radio, for a driver (see also radio.createBindings()). */
  readonly bindings: SimulatedBindings;
  /** Puts the peripheral(s) on the air; resolves to the config that reaches the first one. */
  start(): Promise<Partial<BleConfig>>;
  /** Takes them off the air (links drop) and stops the value timer. start() may follow. */
  stop(): Promise<void>;
  /** When true the peripherals stop answering requests (connections stay). */
  silent: boolean;
  /** Drops the links to a peripheral, which keeps advertising; default: the first device's. */
  disconnectPeripheral(address?: string): void;
  /** The value last written to a property, decoded as a read would, or undefined if none was. */
  written(property: string, device?: string): TwinValue | undefined;
  /** The value a read of the property returns now. */
  value(property: string, device?: string): TwinValue;
  /** Puts a value into a property (a ReadOnly property then stops moving). */
  set(property: string, value: TwinValue, device?: string): void;
}

type BleDevice = ResolvedDevice<BleConfig, BleVisitor>;

interface SimProperty {
  name: string;
  property: BleDevice['properties'][number];
  uuid: string;
  moving: boolean;
  phase: number;
  written?: Buffer;
}

interface SimDevice {
  device: BleDevice;
  peripheral: SimulatedPeripheral;
  properties: Map<string, SimProperty>;
}

/**
 * A simulated BLE peripheral per device, on a simulated radio: one GATT service holding each visitor's
 * characteristic, ReadOnly values moving on a slow sine within the model's bounds (encoded so that the
 * visitor's dataConverter decodes them), notifications when a value changes.
 */
export function createBleSimulator(
  devices: ResolvedDevice | ResolvedDevice[],
  options: BleSimulatorOptions = {},
): BleSimulator {
  const radio = options.radio ?? new SimulatedRadio();
  const tickMs = options.tickMs ?? 100;
  const periodMs = options.periodMs ?? 60_000;
  const sims = (Array.isArray(devices) ? devices : [devices]).map((d) => buildDevice(d as BleDevice));
  const first = sims[0];
  if (!first) throw new Error('createBleSimulator needs at least one device');
  let timer: NodeJS.Timeout | undefined;
  let bindings: SimulatedBindings | undefined;
  let silent = false;
  const startedAt = Date.now();

  const simOf = (device?: string): SimDevice => {
    const sim = device === undefined ? first : sims.find((s) => s.device.name === device);
    if (!sim) throw new Error(`no simulated device ${device}`);
    return sim;
  };
  const propertyOf = (name: string, device?: string): [SimDevice, SimProperty] => {
    const sim = simOf(device);
    const property = sim.properties.get(name);
    if (!property) throw new Error(`no property ${name} on ${sim.device.name}`);
    return [sim, property];
  };

  const tick = () => {
    const t = Date.now() - startedAt;
    for (const sim of sims)
      for (const p of sim.properties.values()) if (p.moving) store(sim, p, wave(p, t, periodMs));
  };

  return {
    radio,
    get bindings() {
      bindings ??= radio.createBindings();
      return bindings;
    },
    async start() {
      if (!timer) {
        tick();
        for (const sim of sims) radio.advertise(sim.peripheral);
        timer = setInterval(tick, tickMs);
        timer.unref();
      }
      return { macAddress: first.device.config.macAddress };
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      for (const sim of sims) radio.withdraw(sim.peripheral);
    },
    get silent() {
      return silent;
    },
    set silent(value: boolean) {
      silent = value;
      for (const sim of sims) sim.peripheral.silent = value;
    },
    disconnectPeripheral(address) {
      radio.disconnectPeripheral(address ?? first.device.config.macAddress);
    },
    written(name, device) {
      const [, p] = propertyOf(name, device);
      if (!p.written) return undefined;
      return decodeProperty(p.property.model, p.property.visitor, p.written);
    },
    value(name, device) {
      const [sim, p] = propertyOf(name, device);
      const characteristic = sim.peripheral.characteristics.get(p.uuid);
      if (!characteristic) throw new Error(`no characteristic for ${name}`);
      return decodeProperty(p.property.model, p.property.visitor, characteristic.value);
    },
    set(name, value, device) {
      const [sim, p] = propertyOf(name, device);
      p.moving = false;
      store(sim, p, value);
    },
  };
}

function buildDevice(device: BleDevice): SimDevice {
  const peripheral = new SimulatedPeripheral(device.config.macAddress, device.name);
  const properties = new Map<string, SimProperty>();
  device.properties.forEach((property, index) => {
    const uuid = normalizeUuid(property.visitor.characteristicUUID);
    const model = property.model;
    const writable = model.accessMode !== 'ReadOnly';
    const characteristic = peripheral.characteristics.get(uuid) ?? {
      uuid,
      properties: ['read'],
      value: Buffer.alloc(0),
    };
    const length = valueLength(model, property.visitor);
    if (characteristic.value.length < length)
      characteristic.value = Buffer.concat([
        characteristic.value,
        Buffer.alloc(length - characteristic.value.length),
      ]);
    const add = (p: string) => {
      if (!characteristic.properties.includes(p)) characteristic.properties.push(p);
    };
    if (writable) add('write');
    if (property.visitor.notify !== false) add('notify');
    peripheral.characteristics.set(uuid, characteristic);
    properties.set(property.name, {
      name: property.name,
      property,
      uuid,
      moving: !writable,
      phase: index,
    });
  });
  const sim: SimDevice = { device, peripheral, properties };
  for (const p of properties.values()) store(sim, p, initialValue(p));
  peripheral.on('written', (uuid: string, data: Buffer) => {
    for (const p of properties.values()) if (p.uuid === uuid) p.written = data;
  });
  return sim;
}

/** A writable property starts at its desired value if it has one, else in the middle of its bounds. */
function initialValue(p: SimProperty): TwinValue {
  const { model, desired } = p.property;
  if (desired !== undefined && desired !== '') {
    if (model.type === 'BOOLEAN') return desired === 'true';
    if (model.type === 'STRING') return desired;
    const n = Number(desired);
    if (Number.isFinite(n)) return n;
  }
  const [firstKey] = Object.keys(p.property.visitor.dataWrite ?? {});
  if (firstKey !== undefined && !p.property.visitor.dataConverter) return firstKey;
  if (model.type === 'BOOLEAN') return false;
  if (model.type === 'STRING') return p.name;
  return wave(p, 0, 1);
}

/** A slow sine within the model's bounds: the middle ± a tenth of the range. */
function wave(p: SimProperty, t: number, periodMs: number): TwinValue {
  const { model } = p.property;
  if (model.type === 'BOOLEAN') return Math.floor(t / (periodMs / 2)) % 2 === 1;
  if (model.type === 'STRING') return p.name;
  const lo = model.minimum !== undefined ? Number(model.minimum) : 0;
  const hi = model.maximum !== undefined ? Number(model.maximum) : lo + 100;
  const value = (lo + hi) / 2 + ((hi - lo) / 10) * Math.sin((2 * Math.PI * t) / periodMs + p.phase);
  return model.type === 'INT' ? Math.round(value) : Math.round(value * 100) / 100;
}

function store(sim: SimDevice, p: SimProperty, value: TwinValue): void {
  const characteristic = sim.peripheral.characteristics.get(p.uuid);
  if (!characteristic) return;
  sim.peripheral.update(
    p.uuid,
    encodeProperty(p.property.model, p.property.visitor, value, characteristic.value),
  );
}
