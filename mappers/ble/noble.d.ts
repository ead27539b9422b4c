/** The parts of @abandonware/noble that edgetwin uses (the package ships no typings for these entries). */
declare module '@abandonware/noble/with-bindings.js' {
  import type { EventEmitter } from 'node:events';

  type Callback<T = void> = (error: Error | string | null | undefined, result: T) => void;

  export interface NobleCharacteristic extends EventEmitter {
    uuid: string;
    properties: string[];
    read(callback?: Callback<Buffer>): void;
    write(data: Buffer, withoutResponse: boolean, callback?: (error: Error | null) => void): void;
    notify(notify: boolean, callback?: (error: Error | null) => void): void;
  }

  export interface NobleService extends EventEmitter {
    uuid: string;
    characteristics: NobleCharacteristic[] | null;
    discoverCharacteristics(uuids: string[], callback?: Callback<NobleCharacteristic[]>): void;
  }

  export interface NoblePeripheral extends EventEmitter {
    id: string;
    uuid: string;
    address: string;
    state: 'error' | 'connecting' | 'connected' | 'disconnecting' | 'disconnected';
    services: NobleService[] | null;
    connect(callback?: (error: Error | null | undefined) => void): void;
    disconnect(callback?: () => void): void;
    discoverServices(uuids: string[], callback?: Callback<NobleService[]>): void;
  }

  export interface Noble extends EventEmitter {
    readonly state: string;
    startScanning(
      serviceUuids: string[],
      allowDuplicates: boolean,
      callback?: (error?: Error | null) => void,
    ): void;
    stopScanning(callback?: () => void): void;
  }

  /** A Noble over the given bindings object; never loads the native HCI module. */
  export default function withBindings(bindings: EventEmitter): Noble;
}

declare module '@abandonware/noble/lib/resolve-bindings.js' {
  import type { EventEmitter } from 'node:events';

  /** The platform's bindings (HCI socket on Linux); loads the native module. */
  export default function resolveBindings(options?: Record<string, unknown>): EventEmitter;
}
