import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ModbusRegister, ModbusVisitor } from '../../device-models/index.js';
import type { Point } from '../../sdk/driver.js';
import { planReads, pointSpan } from './read-plan.js';

const point = (
  offset: number,
  register: ModbusRegister = 'HoldingRegister',
  limit = 1,
): Point<ModbusVisitor> => ({
  name: `p${register}${offset}`,
  visitor: { register, offset, limit },
  property: {
    name: `p${offset}`,
    type: register.endsWith('Register') && register.startsWith('Coil') ? 'BOOLEAN' : 'INT',
  },
});

describe('planReads', () => {
  it('reads 20 contiguous registers in one request', () => {
    const requests = planReads(Array.from({ length: 20 }, (_, i) => point(100 + i)));
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ register: 'HoldingRegister', start: 100, count: 20 });
    expect(requests[0]!.points.map((p) => p.offset)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('merges near points and splits far ones', () => {
    expect(planReads([point(0), point(9)])).toHaveLength(1);
    expect(planReads([point(0), point(10)])).toHaveLength(2);
    expect(planReads([point(0), point(10)], { maxGap: 20 })).toHaveLength(1);
  });

  it('never merges different register types', () => {
    const requests = planReads([
      point(0, 'HoldingRegister'),
      point(1, 'InputRegister'),
      point(0, 'CoilRegister'),
    ]);
    expect(requests.map((r) => r.register).sort()).toEqual([
      'CoilRegister',
      'HoldingRegister',
      'InputRegister',
    ]);
  });

  it('keeps requests within 125 registers and 2000 coils', () => {
    const registers = planReads(Array.from({ length: 130 }, (_, i) => point(i)));
    expect(registers.map((r) => r.count)).toEqual([125, 5]);
    const coils = planReads(Array.from({ length: 2100 }, (_, i) => point(i, 'CoilRegister')));
    expect(coils.map((r) => r.count)).toEqual([2000, 100]);
  });

  it('serves overlapping points from one request', () => {
    const [request] = planReads([point(0, 'HoldingRegister', 2), point(1)]);
    expect(request).toMatchObject({ start: 0, count: 2 });
    expect(request!.points).toEqual([
      { index: 0, offset: 0, count: 2 },
      { index: 1, offset: 1, count: 1 },
    ]);
  });

  it('covers every point exactly once, at its offset, within the caps', () => {
    const registers: ModbusRegister[] = [
      'CoilRegister',
      'DiscreteInputRegister',
      'HoldingRegister',
      'InputRegister',
    ];
    const arbitraryPoint = fc
      .record({
        offset: fc.nat(3000),
        register: fc.constantFrom(...registers),
        limit: fc.integer({ min: 1, max: 4 }),
      })
      .map(({ offset, register, limit }) => point(offset, register, limit));
    fc.assert(
      fc.property(fc.array(arbitraryPoint, { maxLength: 200 }), (points) => {
        const requests = planReads(points);
        const seen = new Map<number, number>();
        for (const request of requests) {
          expect(request.count).toBeLessThanOrEqual(
            request.register.startsWith('Holding') || request.register.startsWith('Input') ? 125 : 2000,
          );
          for (const member of request.points) {
            seen.set(member.index, (seen.get(member.index) ?? 0) + 1);
            const p = points[member.index]!;
            expect(p.visitor.register).toBe(request.register);
            expect(request.start + member.offset).toBe(p.visitor.offset);
            expect(member.offset + member.count).toBeLessThanOrEqual(request.count);
            expect(member.count).toBe(pointSpan(p));
          }
        }
        expect([...seen.keys()].sort((a, b) => a - b)).toEqual(points.map((_, i) => i));
        expect([...seen.values()].every((n) => n === 1)).toBe(true);
      }),
    );
  });
});
