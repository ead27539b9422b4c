import { EdgetwinError } from '../device-models/index.js';

/**
 * The write queue holds as many pending changes as it may (`maxPending`): the write is refused, nothing
 * of it is queued, and the caller decides (answer 503, retry later). It can only fill within one tick,
 * since every tick's writes are committed together before the next.
 */
export class TwinStoreFull extends EdgetwinError {
  constructor(
    readonly pending: number,
    readonly limit: number,
  ) {
    super(
      'TWIN_STORE_FULL',
      `twin store queue full: ${pending} changes pending (limit ${limit}); write refused`,
    );
  }
}

/** A write or state change for a device the store does not know (never upserted, or removed). */
export class TwinStoreUnknownDevice extends EdgetwinError {
  constructor(readonly deviceId: string) {
    super('TWIN_STORE_UNKNOWN_DEVICE', `no device ${deviceId} in the twin store`);
  }
}

/** The store was closed; nothing more is written. */
export class TwinStoreClosed extends EdgetwinError {
  constructor() {
    super('TWIN_STORE_CLOSED', 'twin store is closed');
  }
}

/** The database file cannot be used: written by a newer edgetwin, or a migration failed. */
export class TwinStoreSchemaError extends EdgetwinError {
  constructor(message: string, options?: ErrorOptions) {
    super('TWIN_STORE_SCHEMA', message, options);
  }
}

/**
 * Refused because an earlier queued write of the same device was: it may have been built on that write's
 * result (see GroupCommit), so committing it could store what was refused.
 */
export class TwinStoreChainRefused extends EdgetwinError {
  constructor(
    readonly deviceId: string,
    cause: unknown,
  ) {
    super(
      'TWIN_STORE_CHAIN_REFUSED',
      `an earlier write of ${deviceId} was refused (${(cause as Error)?.message ?? String(cause)}); write refused with it`,
      { cause },
    );
  }
}
