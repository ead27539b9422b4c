import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ReportStrategy } from '../../device-models/index.js';
import { DeviceRuntime, type RuntimeState } from './device-runtime.js';
import { OFFLINE_AFTER_TIMEOUTS } from './state-policy.js';
import { RecordingBus, ScriptedDevice, scriptedDevice } from './testdata/scripted.js';
import { CycleClock } from './timers.js';

/** A protocol-neutral runtime on a scripted device, with vitest's fake clock as the runtime's only clock. */
function setup(options: { report?: ReportStrategy; maxWriteAttempts?: number } = {}) {
  const device = new ScriptedDevice();
  device.values.set('temperature', 20);
  device.values.set('setpoint', 21);
  const bus = new RecordingBus();
  const states: RuntimeState[] = [];
  const failures: { name: string; error: Error }[] = [];
  const runtime = new DeviceRuntime({
    device: scriptedDevice(options.report ? { report: options.report } : {}),
    mapper: device.mapper(),
    bus,
    random: () => 0.5,
    // Its own clock, made on the fake one: cycles a whole period apart from the first read, so that the
    // ticks below land on them.
    cycles: new CycleClock(1),
    backoff: { initialMs: 500, maxMs: 8000, jitter: 0 },
    ...(options.maxWriteAttempts ? { maxWriteAttempts: options.maxWriteAttempts } : {}),
  });
  runtime.on('state', (s: RuntimeState) => states.push(s));
  runtime.on('writeFailed', (name: string, error: Error) => failures.push({ name, error }));
  return { device, bus, runtime, states, failures };
}

const tick = (ms: number) => vi.advanceTimersByTimeAsync(ms);

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('DeviceRuntime: desired values, written once per intent', () => {
  it('writes 23.55 to a register that holds 0.1 once, reports what it holds with a reason, and never again', async () => {
    const { device, bus, runtime } = setup();
    // A register of tenths that truncates, as many devices do.
    device.holds = (_name, value) => Math.floor(Number(value) * 10) / 10;
    await runtime.start();
    await tick(10);
    bus.delta({ setpoint: '23.55' });
    await tick(10);
    expect(device.writes).toEqual([{ name: 'setpoint', value: 23.55 }]);
    expect(bus.reported('setpoint').at(-1)).toMatchObject({
      value: '23.5',
      reason: expect.stringContaining('23.55'),
    });
    // The same delta again and again (as KubeEdge republishes it after every update): no write loop.
    for (let i = 0; i < 50; i++) {
      bus.delta({ setpoint: '23.55' });
      await tick(100);
    }
    await tick(5000);
    expect(device.writes).toHaveLength(1);
    // Every later report says what the device holds, and why it is not the desired value.
    expect(bus.reported('setpoint').at(-1)).toMatchObject({ value: '23.5', reason: expect.any(String) });
    // A new desired version is a new intent, even with the same value.
    bus.delta({ setpoint: '23.55' }, 2);
    await tick(10);
    expect(device.writes).toHaveLength(2);
    await runtime.stop();
  });

  it('confirms a value the device holds in the desired spelling, without a reason', async () => {
    const { device, bus, runtime } = setup();
    await runtime.start();
    await tick(10);
    bus.delta({ setpoint: '24' });
    await tick(10);
    expect(device.writes).toEqual([{ name: 'setpoint', value: 24 }]);
    expect(bus.reported('setpoint').at(-1)).toEqual({ value: '24', type: 'float' });
    await runtime.stop();
  });

  it('never writes a desired value outside the model range, or one that is not a number', async () => {
    const { device, bus, runtime, failures } = setup();
    await runtime.start();
    await tick(10);
    bus.delta({ setpoint: '999' });
    bus.delta({ setpoint: 'warm' }, 2);
    await tick(3000);
    expect(device.writes).toEqual([]);
    expect(failures.map((f) => f.error.message)).toEqual([
      expect.stringContaining('above the maximum 35'),
      expect.stringContaining('not a FLOAT'),
    ]);
    await runtime.stop();
  });

  it('retries a failed write with backoff, a bounded number of times', async () => {
    const { device, bus, runtime, failures } = setup({ maxWriteAttempts: 4 });
    device.writeFailures = 100;
    await runtime.start();
    await tick(10);
    bus.delta({ setpoint: '25' });
    await tick(10);
    expect(failures).toHaveLength(1);
    // Backoff 500, 1000, 2000 ms between attempts.
    await tick(480);
    expect(failures).toHaveLength(1);
    await tick(30);
    expect(failures).toHaveLength(2);
    await tick(60_000);
    expect(failures).toHaveLength(4);
    expect(device.writes).toEqual([]);
    await runtime.stop();
  });

  it('keeps a desired value while the device is unreachable and writes it once when it returns', async () => {
    const { device, bus, runtime } = setup();
    device.behaviour = 'unplugged';
    await runtime.start();
    await tick(10);
    bus.delta({ setpoint: '30' });
    await tick(5000);
    expect(device.writes).toEqual([]);
    device.behaviour = 'answer';
    await tick(10_000);
    expect(device.writes).toEqual([{ name: 'setpoint', value: 30 }]);
    await runtime.stop();
  });

  it('catches up at connect with desired values set while it was not listening (twin/get)', async () => {
    const { device, bus, runtime } = setup();
    bus.twins = {
      setpoint: {
        expected: { value: '30' },
        actual: { value: '21' },
        expected_version: { cloud: 0, edge: 3 },
      },
      temperature: { actual: { value: '20' } },
    };
    await runtime.start();
    await tick(10);
    expect(device.writes).toEqual([{ name: 'setpoint', value: 30 }]);
    // The delta for the same version that follows changes nothing.
    bus.delta({ setpoint: '30' }, 3);
    await tick(10);
    expect(device.writes).toHaveLength(1);
    await runtime.stop();
  });
});

describe('DeviceRuntime: one state policy from the errors a driver throws', () => {
  it(`goes unhealthy on a timeout and offline after ${OFFLINE_AFTER_TIMEOUTS}, then probes with backoff, not every cycle`, async () => {
    const { device, runtime, states } = setup();
    await runtime.start();
    await tick(10);
    expect(runtime.state).toBe('online');
    device.behaviour = 'silent';
    // Two reads of 100 ms timeout each in the cycle at 1 s.
    await tick(1000 + 250);
    expect(runtime.state).toBe('unhealthy');
    await tick(2000);
    expect(runtime.state).toBe('offline');
    // Offline: probed once per backoff period (500, 1000, 2000, 4000, 8000 ms), not once per 1 s cycle.
    const before = device.reads;
    await tick(30_000);
    const probes = device.reads - before;
    expect(probes).toBeGreaterThanOrEqual(3);
    expect(probes).toBeLessThanOrEqual(8);
    expect(states.filter((s) => s === 'online')).toHaveLength(1);
    device.behaviour = 'answer';
    await tick(9000);
    expect(runtime.state).toBe('online');
    await runtime.stop();
  });

  it('goes offline at once when the connection is lost and reconnects with backoff', async () => {
    const { device, runtime } = setup();
    await runtime.start();
    await tick(10);
    device.behaviour = 'unplugged';
    await tick(1000);
    expect(runtime.state).toBe('offline');
    const connects = device.connects;
    await tick(500 + 1000 + 2000 + 10);
    expect(device.connects - connects).toBe(3);
    device.behaviour = 'answer';
    await tick(4000 + 10);
    expect(runtime.state).toBe('online');
    await runtime.stop();
  });

  it('is unhealthy while the device answers only with errors', async () => {
    const { device, runtime } = setup();
    await runtime.start();
    await tick(10);
    device.behaviour = 'error';
    await tick(1000);
    expect(runtime.state).toBe('unhealthy');
    device.behaviour = 'answer';
    await tick(1000);
    expect(runtime.state).toBe('online');
    await runtime.stop();
  });

  it('stops twice and leaves no timer behind', async () => {
    const { runtime } = setup();
    await runtime.start();
    await tick(2500);
    await runtime.stop();
    await runtime.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('DeviceRuntime: report strategies', () => {
  /** Runs the runtime with temperature following `values`, one per 1 s cycle; the temperatures it reported. */
  async function reportedFor(report: ReportStrategy | undefined, values: number[]): Promise<string[]> {
    const { device, bus, runtime } = setup(report ? { report } : {});
    device.values.set('temperature', values[0]!);
    await runtime.start();
    for (const value of values) {
      device.values.set('temperature', value);
      await tick(1000);
    }
    // The last value read is reported at the next report tick.
    await tick(1000);
    await runtime.stop();
    return bus.reported('temperature').map((r) => r.value);
  }

  it('reports every cycle by default (KubeEdge), each read as soon as it is answered', async () => {
    // A read and the report of the same cycle are one step, as in KubeEdge's mappers: the first read is
    // reported at once, and each later one with what the device answered in that cycle.
    expect(await reportedFor(undefined, [20, 20, 20, 21])).toEqual(['20', '20', '20', '20', '21', '21']);
  });

  it('reports what a slow device answered in this cycle, not in the one before', async () => {
    const { device, bus, runtime } = setup();
    device.answerAfterMs = 30;
    const reported = () => bus.reported('temperature').map((r) => r.value);
    await runtime.start();
    await tick(100);
    expect(reported()).toEqual(['20']);
    device.values.set('temperature', 21);
    await tick(1000);
    expect(reported()).toEqual(['20', '21']);
    device.values.set('temperature', 22);
    await tick(1000);
    expect(reported()).toEqual(['20', '21', '22']);
    await runtime.stop();
  });

  it('reports on change', async () => {
    expect(await reportedFor({ onChange: true }, [20, 20, 20, 21, 21, 20])).toEqual(['20', '21', '20']);
  });

  it('reports beyond an absolute deadband', async () => {
    expect(await reportedFor({ onChange: true, deadband: 0.5 }, [20, 20.3, 20.6, 20.9, 21.2])).toEqual([
      '20',
      '20.6',
      '21.2',
    ]);
  });

  it('reports beyond a percent deadband of the last reported value', async () => {
    expect(await reportedFor({ onChange: true, deadbandPercent: 10 }, [20, 21.9, 22.1, 23, 24.4])).toEqual([
      '20',
      '22.1',
      '24.4',
    ]);
  });

  it('reports at least every heartbeat without change', async () => {
    const values = Array.from({ length: 12 }, () => 20);
    expect(await reportedFor({ onChange: true, heartbeat: 5000 }, values)).toEqual(['20', '20', '20']);
  });
});

describe('DeviceRuntime: devices run their cycles on one clock', () => {
  /** A device on `cycles`, and when (ms after `began`) it reads its temperature. */
  function meter(
    cycles: CycleClock,
    id: string,
    began: number,
    line?: { sharedLine: string; answerAfterMs: number },
  ) {
    const device = new ScriptedDevice();
    device.values.set('temperature', 20);
    device.values.set('setpoint', 21);
    if (line) Object.assign(device, line);
    const times: number[] = [];
    const runtime = new DeviceRuntime({
      device: { ...scriptedDevice(), id },
      mapper: device.mapper(),
      bus: new RecordingBus(),
      cycles,
    });
    runtime.on('reading', (name: string) => {
      if (name === 'temperature') times.push(Date.now() - began);
    });
    return { runtime, times };
  }

  it('reads at once, then on the clock: a period after the first device, every period, later devices too', async () => {
    const cycles = new CycleClock(1);
    const began = Date.now();
    const first = meter(cycles, 'default/first', began);
    const second = meter(cycles, 'default/second', began);
    const third = meter(cycles, 'default/third', began);
    await first.runtime.start();
    await tick(300);
    await second.runtime.start();
    await tick(400);
    await third.runtime.start();
    await tick(2800);
    for (const { runtime } of [first, second, third]) await runtime.stop();
    expect(first.times).toEqual([0, 1000, 2000, 3000]);
    // A device's first cycle is at least half a period after its first read.
    expect(second.times).toEqual([300, 1000, 2000, 3000]);
    expect(third.times).toEqual([700, 2000, 3000]);
    expect(cycles.size).toBe(0);
  });

  it('runs the cycles of devices on one shared line one after another, and other lines beside them', async () => {
    const cycles = new CycleClock(1);
    const began = Date.now();
    const onLine = (id: string, sharedLine: string) =>
      meter(cycles, id, began, { sharedLine, answerAfterMs: 30 });
    const devices = [
      onLine('default/a', 'rs485-1'),
      onLine('default/b', 'rs485-1'),
      onLine('default/c', 'rs485-1'),
      onLine('default/other', 'rs485-2'),
    ];
    await Promise.all(devices.map(({ runtime }) => runtime.start()));
    await tick(500);
    for (const { runtime } of devices) await runtime.stop();
    // A cycle reads two properties, 30 ms each, and then has both readings: b's cycle begins when a's has
    // ended, c's after b's; the device on the other line reads beside a.
    expect(devices.map(({ times }) => times)).toEqual([[60], [120], [180], [60]]);
  });

  it('with slots, spreads devices over the period by id, each in the same slot on every start', async () => {
    const slotOf = async (ids: string[]) => {
      const cycles = new CycleClock(10);
      const began = Date.now();
      const meters = ids.map((id) => meter(cycles, id, began));
      for (const { runtime } of meters) await runtime.start();
      await tick(1600);
      for (const { runtime } of meters) await runtime.stop();
      // Ten slots of 100 ms; a first cycle at least half a period after the first read.
      for (const { times } of meters) expect(times[0]).toBe(0);
      for (const { times } of meters) expect(times[1]).toBeGreaterThanOrEqual(500);
      return meters.map(({ times }) => times[1]! % 1000);
    };
    const places = await slotOf(Array.from({ length: 20 }, (_, i) => `default/meter-${i}`));
    for (const place of places) expect(place % 100).toBe(0);
    expect(new Set(places).size).toBeGreaterThanOrEqual(6);
    expect(await slotOf(['default/meter-3'])).toEqual([places[3]]);
  });
});
