import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { emptyLedger, JoinLedger, type LedgerData, type LedgerStore } from './join-ledger.js';

/**
 * A ledger store in memory with the Secret's semantics (join-ledger-secret.ts): a write carries the version it
 * was read at and is refused when another writer came first. Reads and writes each give way to the event
 * loop before they act, so that writers interleave as replicas talking to one API server do.
 */
class MemoryLedgerStore implements LedgerStore {
  readonly where = 'memory';
  private stored?: { data: LedgerData; version: number };
  writes = 0;
  conflicts = 0;

  async read(): Promise<{ data: LedgerData; version?: string }> {
    await turn();
    if (!this.stored) return { data: emptyLedger() };
    return { data: structuredClone(this.stored.data), version: String(this.stored.version) };
  }

  async write(data: LedgerData, version: string | undefined): Promise<boolean> {
    await turn();
    if (version !== (this.stored ? String(this.stored.version) : undefined)) {
      this.conflicts++;
      return false;
    }
    this.stored = { data: structuredClone(data), version: (this.stored?.version ?? 0) + 1 };
    this.writes++;
    return true;
  }
}

const joined = (name: string) => ({ certSha256: name.padEnd(64, '0'), joinedAt: new Date().toISOString() });

describe('JoinLedger over a store shared by several replicas', () => {
  it('takes every join of a burst on six replicas at once, none lost', async () => {
    const store = new MemoryLedgerStore();
    const replicas = await Promise.all(Array.from({ length: 6 }, () => JoinLedger.openStore(store)));
    const names = replicas.flatMap((_, r) => Array.from({ length: 5 }, (_, i) => `gateway-${r}-${i}`));
    const outcomes = await Promise.allSettled(
      names.map((name, n) => replicas[Math.floor(n / 5)]!.update(async (l) => l.setNode(name, joined(name)))),
    );
    expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
    const { data } = await store.read();
    expect(Object.keys(data.nodes).sort()).toEqual([...names].sort());
    // The races were real: writes were refused and made again.
    expect(store.conflicts).toBeGreaterThan(0);
    expect(store.writes).toBe(names.length);
  });

  it('writes nothing for a change that only reads, or that throws', async () => {
    const store = new MemoryLedgerStore();
    const ledger = await JoinLedger.openStore(store);
    await ledger.update(async (l) => l.setNode('gateway-1', joined('gateway-1')));
    expect(store.writes).toBe(1);
    expect(await ledger.update(async (l) => l.node('gateway-1')?.certSha256)).toMatch(/^gateway-1/);
    await expect(
      ledger.update(async (l) => {
        l.setNode('gateway-2', joined('gateway-2'));
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect(store.writes).toBe(1);
    expect(Object.keys((await store.read()).data.nodes)).toEqual(['gateway-1']);
  });
});
