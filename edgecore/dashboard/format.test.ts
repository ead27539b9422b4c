import { describe, expect, it } from 'vitest';
import type { DeviceSummary } from './api.js';
import {
  displayValue,
  lastSeen,
  MAX_POINTS,
  matchesFilter,
  mergePoints,
  newestReport,
  numeric,
  parseTime,
  relativeTime,
} from './format.js';

describe('relativeTime', () => {
  const now = Date.parse('2025-06-01T12:00:00Z');
  it.each([
    ['2025-06-01T12:00:00Z', 'just now'],
    ['2025-06-01T11:59:48Z', '12 s ago'],
    ['2025-06-01T11:55:00Z', '5 min ago'],
    ['2025-06-01T09:00:00Z', '3 h ago'],
    ['2025-05-30T12:00:00Z', '2 d ago'],
    ['', 'never'],
    ['not a time', 'never'],
  ])('%s → %s', (iso, text) => expect(relativeTime(parseTime(iso), now)).toBe(text));
});

describe('lastSeen', () => {
  it('is the later of lastOnlineTime and the newest reported value', () => {
    const online = Date.parse('2025-06-01T12:00:00Z');
    expect(lastSeen('2025-06-01T12:00:00Z', online + 5000)).toBe(online + 5000);
    expect(lastSeen('2025-06-01T12:00:00Z', online - 5000)).toBe(online);
    expect(lastSeen('', online)).toBe(online);
    expect(lastSeen('', undefined)).toBeUndefined();
  });

  it('takes the newest reported timestamp of the twins', () => {
    const twin = (timestamp?: number) => ({
      optional: false,
      desired: null,
      reported: timestamp === undefined ? null : { value: '1', timestamp },
    });
    expect(newestReport({ a: twin(5), b: twin(9), c: twin(), d: null })).toBe(9);
    expect(newestReport({})).toBeUndefined();
  });
});

describe('matchesFilter', () => {
  const device: DeviceSummary = {
    id: 'default/thermostat-01',
    namespace: 'default',
    name: 'thermostat-01',
    model: 'thermostat-model',
    protocol: 'modbus',
    state: 'online',
    lastOnlineTime: '',
    node: 'edge-node-1',
  };
  it.each([
    ['', true],
    ['THERMO', true],
    ['modbus online', true],
    ['edge-node-1', true],
    ['modbus offline', false],
    ['opcua', false],
  ])('%j → %s', (query, expected) => expect(matchesFilter(device, query)).toBe(expected));
});

describe('numeric', () => {
  it('reads numbers and booleans, and nothing else', () => {
    expect([numeric('21.5'), numeric(' -3 '), numeric(7), numeric('true'), numeric(false)]).toEqual([
      21.5, -3, 7, 1, 0,
    ]);
    expect([numeric('GS'), numeric(''), numeric(null), numeric(Number.NaN)]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});

describe('mergePoints', () => {
  it('orders by time, keeps one point per timestamp (the later wins) and drops non-numeric values', () => {
    const merged = mergePoints(
      [
        { t: 3, v: 30 },
        { t: 1, v: 10 },
      ],
      [
        { t: 2, v: '20' },
        { t: 3, v: '31' },
        { t: 4, v: 'GS' },
      ],
    );
    expect(merged).toEqual([
      { t: 1, v: 10 },
      { t: 2, v: 20 },
      { t: 3, v: 31 },
    ]);
  });

  it(`keeps the newest ${MAX_POINTS} points`, () => {
    const many = Array.from({ length: MAX_POINTS + 50 }, (_, i) => ({ t: i, v: i }));
    const merged = mergePoints([], many);
    expect(merged).toHaveLength(MAX_POINTS);
    expect(merged[0]).toEqual({ t: 50, v: 50 });
  });
});

describe('displayValue', () => {
  it('rounds long decimals to three places and leaves everything else as reported', () => {
    expect(displayValue('82.54401125978794')).toBe('82.544');
    expect(displayValue('-0.00001')).toBe('0');
    expect(displayValue('21.50')).toBe('21.50');
    expect(displayValue('900')).toBe('900');
    expect(displayValue('GS')).toBe('GS');
    expect(displayValue(undefined)).toBe('—');
  });
});
