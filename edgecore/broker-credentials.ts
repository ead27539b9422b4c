import { createHmac, randomBytes } from 'node:crypto';
import { chmod, link, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EventBusAccount, EventBusRole, Logger } from '../sdk/internal.js';
import type { EdgeConfig } from './config.js';

/** Where edgecore keeps the secret its EventBus passwords derive from, in its data directory. */
// No .json: a data directory inside a devices directory must not look like a device file to its watcher.
export const BROKER_CREDENTIALS_FILE = 'broker-credentials';
/** A mapper's username is this and its protocol: `mapper-modbus`. */
export const MAPPER_USERNAME_PREFIX = 'mapper-';

interface CredentialsFile {
  version: 1;
  /** 32 random bytes, hex: every password is an HMAC of its username with it. */
  secret: string;
  createdAt: string;
  note?: string;
}

/** A username, its password and its role on the embedded broker. */
export interface BrokerAccount {
  username: string;
  password: string;
  role: EventBusRole;
}

type InternalConfig = EdgeConfig['eventBus']['internal'];

/**
 * The accounts of the embedded broker. One random secret, made on first start and kept in
 * `<dataDir>/broker-credentials` (JSON, mode 0600), gives every account its password (an HMAC of the username):
 * `mapper-<protocol>` for the mapper of each protocol (any protocol, a custom one too, with no set-up), and
 * each app edge.yaml names, with the role it gives. Deleting the file changes every password at next start.
 */
export class BrokerCredentials {
  constructor(
    private readonly secret: Buffer,
    private readonly internal: Pick<InternalConfig, 'apps' | 'username' | 'password'>,
    /** Where the secret is kept. */
    readonly file: string,
  ) {}

  /** The account of a mapper serving `protocol`. */
  mapper(protocol: string): BrokerAccount {
    const username = `${MAPPER_USERNAME_PREFIX}${protocol}`;
    return { username, password: this.derive(username), role: { kind: 'mapper', protocol } };
  }

  /** Every app account edge.yaml names (and the extra `username`/`password` one, if set). */
  apps(): BrokerAccount[] {
    const accounts = this.internal.apps.map(({ name, role }) => ({
      username: name,
      password: this.derive(name),
      role: { kind: role } as EventBusRole,
    }));
    if (this.internal.username !== undefined && this.internal.password !== undefined)
      accounts.push({
        username: this.internal.username,
        password: this.internal.password,
        role: { kind: 'readwrite' },
      });
    return accounts;
  }

  /** The account of `username`, or undefined (what the broker's ACL asks). */
  account(username: string): EventBusAccount | undefined {
    if (username.startsWith(MAPPER_USERNAME_PREFIX) && username.length > MAPPER_USERNAME_PREFIX.length)
      return this.mapper(username.slice(MAPPER_USERNAME_PREFIX.length));
    return this.apps().find((a) => a.username === username);
  }

  private derive(username: string): string {
    return createHmac('sha256', this.secret)
      .update(`edgetwin-eventbus:${username}`)
      .digest('base64url')
      .slice(0, 32);
  }
}

/**
 * Reads the broker's secret from `dataDir`, or makes it when there is none. The file is written whole and
 * made visible at once (a temporary file linked into place), so an edgecore and an `edgetwin broker
 * credentials` starting together agree on one secret. A file others may read is warned about and made 0600.
 */
export async function loadBrokerCredentials(
  dataDir: string,
  internal: Pick<InternalConfig, 'apps' | 'username' | 'password'>,
  log?: Logger,
): Promise<BrokerCredentials> {
  const file = join(dataDir, BROKER_CREDENTIALS_FILE);
  let content = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (content === undefined) content = await create(file, log);
  else if (((await stat(file)).mode & 0o077) !== 0) {
    log?.warn({ file }, 'broker credentials were readable by others; made 0600');
    await chmod(file, 0o600);
  }
  const parsed = JSON.parse(content) as Partial<CredentialsFile>;
  if (typeof parsed.secret !== 'string' || !/^[0-9a-f]{64}$/.test(parsed.secret))
    throw new Error(`${file}: no valid "secret" (delete the file to make a new one; every password changes)`);
  return new BrokerCredentials(Buffer.from(parsed.secret, 'hex'), internal, file);
}

async function create(file: string, log?: Logger): Promise<string> {
  const body: CredentialsFile = {
    version: 1,
    secret: randomBytes(32).toString('hex'),
    createdAt: new Date().toISOString(),
    note: 'EventBus passwords derive from this secret: print them with `edgetwin broker credentials`.',
  };
  const content = `${JSON.stringify(body, null, 2)}\n`;
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, content, { mode: 0o600, flag: 'wx' });
  try {
    await link(temporary, file);
    log?.info({ file }, 'broker credentials created');
    return content;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return readFile(file, 'utf8'); // made by another process meanwhile
  } finally {
    await unlink(temporary).catch(() => {});
  }
}
