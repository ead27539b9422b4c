import { describe, expect, it } from 'vitest';
import { type CloudCliOptions, parseDashboard, parseListen, runCloud } from './cloud-command.js';

describe('edgetwin cloud addresses', () => {
  it('--dashboard: alone on loopback, `:port` on loopback too, or the address given', () => {
    expect(parseDashboard(true)).toEqual({ host: '127.0.0.1', port: 10360 });
    expect(parseDashboard(':9000')).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(parseDashboard('0.0.0.0:10360')).toEqual({ host: '0.0.0.0', port: 10360 });
    expect(parseDashboard('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseDashboard('localhost')).toBeUndefined();
    expect(parseDashboard('127.0.0.1:70000')).toBeUndefined();
  });

  it('--listen: `:port` is every address, as before', () => {
    expect(parseListen(':10000')).toEqual({ host: '0.0.0.0', port: 10000 });
  });
});

describe('edgetwin cloud flags', () => {
  const base = {
    listen: '127.0.0.1:0',
    pki: '/nonexistent',
    host: [],
    statusInterval: 500,
    apiConcurrency: 32,
    statusTarget: 'DeviceStatus',
    keepalive: 15,
    joinLedger: 'kubernetes',
  };
  const run = async (extra: Partial<CloudCliOptions>) => {
    const errors: string[] = [];
    const code = await runCloud(
      { ...base, ...extra },
      { stdout: () => {}, stderr: (line) => errors.push(line) },
    );
    return { code, errors };
  };

  it('refuses a bad replication or metrics flag before it connects to anything, naming the flag', async () => {
    expect(await run({ joinLedger: 'etcd' })).toEqual({
      code: 1,
      errors: ['edgetwin cloud: --join-ledger etcd: expected kubernetes or file'],
    });
    expect(await run({ apiConcurrency: 0 })).toEqual({
      code: 1,
      errors: ['edgetwin cloud: --api-concurrency 0: expected a whole number ≥ 1'],
    });
    expect(await run({ leaderLease: 0 })).toEqual({
      code: 1,
      errors: ['edgetwin cloud: --leader-lease 0: expected whole seconds'],
    });
    expect(await run({ nodeLease: 1.5 })).toEqual({
      code: 1,
      errors: ['edgetwin cloud: --node-lease 1.5: expected whole seconds'],
    });
    expect(await run({ metrics: 'everywhere' })).toEqual({
      code: 1,
      errors: ['edgetwin cloud: --metrics everywhere: expected host:port, e.g. :10361'],
    });
  });
});
