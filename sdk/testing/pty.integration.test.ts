import { once } from 'node:events';
import { access } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SerialPort } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { openPtyPair, type PtyPair } from './pty.js';

describe('openPtyPair', () => {
  let pair: PtyPair | undefined;
  const ports: SerialPort[] = [];

  afterEach(async () => {
    for (const port of ports.splice(0))
      if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    await pair?.close();
    pair = undefined;
  });

  it('links two ptys: bytes written to one end arrive at the other', async () => {
    pair = await openPtyPair();
    const a = new SerialPort({ path: pair.a, baudRate: 9600 });
    const b = new SerialPort({ path: pair.b, baudRate: 9600 });
    ports.push(a, b);
    await Promise.all([once(a, 'open'), once(b, 'open')]);
    const received = once(b, 'data');
    a.write(Buffer.from('ping'));
    const [chunk] = (await received) as [Buffer];
    expect(chunk.toString()).toBe('ping');
  });

  it('close removes the directory and is safe to call twice', async () => {
    pair = await openPtyPair();
    const dir = dirname(pair.a);
    await pair.close();
    await pair.close();
    await expect(access(dir)).rejects.toThrow();
  });

  it('names the package to install when socat is missing', async () => {
    await expect(openPtyPair({ socat: '/nonexistent/socat' })).rejects.toThrow(
      'socat not found: apt-get install -y socat',
    );
  });
});
