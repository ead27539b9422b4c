import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgetwinError } from '../device-models/errors.js';

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

interface LedgerData {
  version: 1;
  nodes: Record<string, JoinedNode>;
  usedTokens: Record<string, UsedToken>;
}

export const LEDGER_FILE = 'join-ledger.json';

const empty = (): LedgerData => ({ version: 1, nodes: {}, usedTokens: {} });

/**
 * What joins have happened, kept beside the CA (`<pki>/join-ledger.json`, 0600) so that it survives a
 * restart: the tokens already spent (a token is good for one join; the JWT alone cannot say so) and, per
 * node name, the certificate it holds (a name already joined is not handed to another token unless that
 * token was made with `--force`, and a replaced certificate is no longer let in).
 *
 * One cloudcore writes it; `edgetwin token` only reads it. Changes are serialised in this process and the file
 * is replaced atomically (write, then rename).
 */
export class JoinLedger {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private data: LedgerData,
  ) {}

  static async open(dir: string): Promise<JoinLedger> {
    const file = join(dir, LEDGER_FILE);
    return new JoinLedger(file, await readLedger(file));
  }

  node(name: string): JoinedNode | undefined {
    return this.data.nodes[name];
  }

  usedToken(id: string): UsedToken | undefined {
    return this.data.usedTokens[id];
  }

  /** Reads the file again (another process may have written it since). */
  async reload(): Promise<void> {
    this.data = await readLedger(this.file);
  }

  /**
   * Runs `change` alone (no other change of this process runs meanwhile) on the ledger as the file holds it now;
   * what it returns is written before `update` resolves. A change that throws writes nothing.
   */
  update<T>(change: (ledger: LedgerEditor) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      await this.reload();
      const draft = structuredClone(this.data);
      const result = await change(editor(draft));
      const now = Math.floor(Date.now() / 1000);
      for (const [id, used] of Object.entries(draft.usedTokens))
        if (used.expiresAt < now - 3600) delete draft.usedTokens[id];
      const temporary = `${this.file}.${process.pid}.tmp`;
      await writeFile(temporary, `${JSON.stringify(draft, null, 2)}\n`, { mode: 0o600 });
      await rename(temporary, this.file);
      this.data = draft;
      return result;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** The ledger inside `JoinLedger.update`: read it, and record a join. */
export interface LedgerEditor {
  node(name: string): JoinedNode | undefined;
  usedToken(id: string): UsedToken | undefined;
  setNode(name: string, node: JoinedNode): void;
  spendToken(id: string, used: UsedToken): void;
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
  };
}

async function readLedger(file: string): Promise<LedgerData> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return empty();
    throw error;
  }
  let data: Partial<LedgerData>;
  try {
    data = JSON.parse(text) as Partial<LedgerData>;
  } catch (error) {
    throw new EdgetwinError('JOIN_LEDGER_INVALID', `${file}: not JSON (${(error as Error).message})`, {
      cause: error,
    });
  }
  return { version: 1, nodes: data.nodes ?? {}, usedTokens: data.usedTokens ?? {} };
}
