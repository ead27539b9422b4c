import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EdgetwinError } from '../device-models/errors.js';
import { backoffDelay } from '../sdk/runtime/backoff.js';

/** A node that holds a certificate of this cloud: the one it was last issued (sha256 of its DER, hex). */
export interface JoinedNode {
  certSha256: string;
  joinedAt: string;
}

/** A join token already spent: who spent it, and until when it would have been valid (then it is forgotten). */
export interface UsedToken {
  node: string;
  usedAt: string;
  /** The token's `exp`, seconds since the epoch. */
  expiresAt: number;
}

/** The ledger's content, as stored (a JSON document). */
export interface LedgerData {
  version: 1;
  nodes: Record<string, JoinedNode>;
  usedTokens: Record<string, UsedToken>;
}

export const LEDGER_FILE = 'join-ledger.json';

/** An empty ledger. */
export const emptyLedger = (): LedgerData => ({ version: 1, nodes: {}, usedTokens: {} });

/**
 * Where a ledger is kept. `read` returns it with a version to write against (undefined: none stored yet);
 * `write` stores it only if the stored version is still that one, and says `false` when another writer came
 * first (the change is then made again on what that writer stored).
 */
export interface LedgerStore {
  /** For messages: the file, or the Secret. */
  readonly where: string;
  read(): Promise<{ data: LedgerData; version?: string }>;
  write(data: LedgerData, version: string | undefined): Promise<boolean>;
}

/**
 * A change that lost a race is made again after a wait drawn at random up to 25 ms, then up to twice as
 * long after each race lost, at most 1 s (`backoffDelay` with a jitter of the whole delay: replicas that
 * collided do not collide again in step); after MAX_TRIES races lost in a row it gives up with JOIN_LEDGER_BUSY.
 * The waits add up to 4.6 s at worst (25 + 50 + … + 800 + 3 × 1 000 ms), inside the 10 s a joining edge waits.
 */
const MAX_TRIES = 10;
const RETRY = { initialMs: 12.5, maxMs: 1_000, jitter: 1 } as const;

/**
 * What joins have happened: the tokens already spent (a token is good for one join; the JWT alone cannot say
 * so) and, per node name, the certificate it holds (a name already joined is not handed to another token
 * unless that token was made with `--force`, and a replaced certificate is no longer let in).
 *
 * By default it is a file beside the CA (`<pki>/join-ledger.json`, 0600) that one cloudcore writes and
 * `edgetwin token` only reads; changes are serialised in this process and the file is replaced atomically
 * (write, then rename). Several cloudcore replicas share it in Kubernetes instead (`useStore` with a
 * SecretLedgerStore): each change is made on the ledger as stored and written only if nobody wrote meanwhile,
 * else made again, so two replicas never spend one token twice.
 */
export class JoinLedger {
  private queue: Promise<unknown> = Promise.resolve();
  private reading?: Promise<void>;

  private constructor(
    private store: LedgerStore,
    private data: LedgerData,
  ) {}

  static async open(dir: string): Promise<JoinLedger> {
    return JoinLedger.openStore(new FileLedgerStore(join(dir, LEDGER_FILE)));
  }

  static async openStore(store: LedgerStore): Promise<JoinLedger> {
    return new JoinLedger(store, (await store.read()).data);
  }

  /** Where the ledger is kept now. */
  get where(): string {
    return this.store.where;
  }

  /**
   * Keeps the ledger in `store` from now on. With `carryOver` (the default), a store that holds no ledger yet
   * is given this one (so that a cloudcore that ran alone with a file keeps its joins when it moves to
   * Kubernetes); without, the store is only read (`edgetwin token` checking the cluster's ledger).
   */
  async useStore(store: LedgerStore, options: { carryOver?: boolean } = {}): Promise<void> {
    const previous = this.data;
    this.store = store;
    if (options.carryOver === false) return this.reload();
    await this.update(async (ledger) => {
      if (ledger.isEmpty()) ledger.merge(previous);
    });
  }

  node(name: string): JoinedNode | undefined {
    return this.data.nodes[name];
  }

  usedToken(id: string): UsedToken | undefined {
    return this.data.usedTokens[id];
  }

  /** Reads the ledger again (another process may have written it since); concurrent calls share one read. */
  reload(): Promise<void> {
    this.reading ??= this.store
      .read()
      .then(({ data }) => {
        this.data = data;
      })
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }

  /**
   * Runs `change` alone (no other change of this process runs meanwhile) on the ledger as stored now; what it
   * returns is written before `update` resolves. A change that throws writes nothing, nor does one that changes
   * nothing; one that lost a race with another writer is run again on what that writer stored, after a random
   * wait that grows with each race lost (MAX_TRIES).
   */
  update<T>(change: (ledger: LedgerEditor) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      for (let tries = 1; ; tries++) {
        const { data, version } = await this.store.read();
        this.data = data;
        const draft = structuredClone(data);
        const result = await change(editor(draft));
        const now = Math.floor(Date.now() / 1000);
        for (const [id, used] of Object.entries(draft.usedTokens))
          if (used.expiresAt < now - 3600) delete draft.usedTokens[id];
        // Nothing changed (the change only read): nothing is written.
        if (version !== undefined && JSON.stringify(draft) === JSON.stringify(data)) return result;
        if (await this.store.write(draft, version)) {
          this.data = draft;
          return result;
        }
        if (tries >= MAX_TRIES)
          throw new EdgetwinError(
            'JOIN_LEDGER_BUSY',
            `${this.store.where}: changed by another writer ${tries} times in a row; try again`,
          );
        await sleep(backoffDelay(tries - 1, RETRY));
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * The ledger in a file, replaced atomically; one process writes it, so its version (`file` once it exists) is
 * not checked.
 */
export class FileLedgerStore implements LedgerStore {
  constructor(readonly where: string) {}

  async read(): Promise<{ data: LedgerData; version?: string }> {
    const data = await readLedger(this.where);
    return data ? { data, version: 'file' } : { data: emptyLedger() };
  }

  async write(data: LedgerData): Promise<boolean> {
    const temporary = `${this.where}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
    await rename(temporary, this.where);
    return true;
  }
}

/** The ledger inside `JoinLedger.update`: read it, and record a join. */
export interface LedgerEditor {
  node(name: string): JoinedNode | undefined;
  usedToken(id: string): UsedToken | undefined;
  setNode(name: string, node: JoinedNode): void;
  spendToken(id: string, used: UsedToken): void;
  /** No node and no spent token recorded. */
  isEmpty(): boolean;
  /** Adds what `other` records and this ledger does not. */
  merge(other: LedgerData): void;
}

function editor(data: LedgerData): LedgerEditor {
  return {
    node: (name) => data.nodes[name],
    usedToken: (id) => data.usedTokens[id],
    setNode: (name, node) => {
      data.nodes[name] = node;
    },
    spendToken: (id, used) => {
      data.usedTokens[id] = used;
    },
    isEmpty: () => Object.keys(data.nodes).length + Object.keys(data.usedTokens).length === 0,
    merge: (other) => {
      data.nodes = { ...other.nodes, ...data.nodes };
      data.usedTokens = { ...other.usedTokens, ...data.usedTokens };
    },
  };
}

/** The ledger in `file`; undefined when there is no such file. */
async function readLedger(file: string): Promise<LedgerData | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return parseLedger(text, file);
}

/** A ledger from its JSON text; `where` names it in the error when the text is not a ledger. */
export function parseLedger(text: string, where: string): LedgerData {
  let data: Partial<LedgerData> | null;
  try {
    data = JSON.parse(text) as Partial<LedgerData> | null;
  } catch (error) {
    throw new EdgetwinError('JOIN_LEDGER_INVALID', `${where}: not JSON (${(error as Error).message})`, {
      cause: error,
    });
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new EdgetwinError('JOIN_LEDGER_INVALID', `${where}: not a join ledger (expected a JSON object)`);
  return { version: 1, nodes: data.nodes ?? {}, usedTokens: data.usedTokens ?? {} };
}
