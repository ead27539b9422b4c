import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ModbusDataType, ModbusRegister, ModbusVisitor } from '../../device-models/internal.js';
import type { Point } from '../../sdk/driver.js';
import { ProtocolError } from '../../sdk/errors.js';
import { extractPoint, type PlanOptions, planReads, pointSpan, type ReadRequest } from './read-plan.js';

const REGISTERS: ModbusRegister[] = [
  'CoilRegister',
  'DiscreteInputRegister',
  'HoldingRegister',
  'InputRegister',
];
const isBits = (register: ModbusRegister) =>
  register === 'CoilRegister' || register === 'DiscreteInputRegister';

function point(
  offset: number,
  register: ModbusRegister = 'HoldingRegister',
  extra: Partial<ModbusVisitor> = {},
): Point<ModbusVisitor> {
  const name = `${register}@${offset}`;
  return {
    name,
    visitor: { register, offset, ...extra },
    property: { name, type: isBits(register) ? 'BOOLEAN' : 'INT' },
  };
}

const range = (n: number, at = 0) => Array.from({ length: n }, (_, i) => at + i);

describe('planReads', () => {
  it('reads 20 contiguous registers in one request', () => {
    const requests = planReads(range(20, 100).map((offset) => point(offset)));
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ register: 'HoldingRegister', start: 100, count: 20 });
    expect(requests[0]!.points.map((p) => p.offset)).toEqual(range(20));
  });

  it('merges points up to maxGap unused registers apart and splits beyond', () => {
    expect(planReads([point(0), point(9)])).toHaveLength(1);
    expect(planReads([point(0), point(10)])).toHaveLength(2);
    expect(planReads([point(0), point(10)], { maxGap: 20 })).toHaveLength(1);
    expect(planReads([point(0), point(1)], { maxGap: 0 })).toHaveLength(1);
    expect(planReads([point(0), point(2)], { maxGap: 0 })).toHaveLength(2);
  });

  it('measures gaps from the end of multi-register points', () => {
    const float = point(0, 'HoldingRegister', { dataType: 'float64' });
    expect(planReads([float, point(12)])).toHaveLength(1);
    expect(planReads([float, point(13)])).toHaveLength(2);
  });

  it('keeps register requests within 125 and coil requests within 2000', () => {
    const registers = planReads(range(130).map((offset) => point(offset)));
    expect(registers.map((r) => [r.start, r.count])).toEqual([
      [0, 125],
      [125, 5],
    ]);
    expect(planReads(range(2000).map((offset) => point(offset, 'CoilRegister')))).toHaveLength(1);
    const coils = planReads(range(2100).map((offset) => point(offset, 'DiscreteInputRegister')));
    expect(coils.map((r) => r.count)).toEqual([2000, 100]);
  });

  it('gives a point larger than the cap a request of its own', () => {
    const requests = planReads([point(0), point(1, 'HoldingRegister', { limit: 10 }), point(11)], {
      maxRegisters: 4,
    });
    expect(requests.map((r) => [r.start, r.count])).toEqual([
      [0, 1],
      [1, 10],
      [11, 1],
    ]);
  });

  it('never merges different register types', () => {
    const requests = planReads(REGISTERS.map((register) => point(0, register)));
    expect(requests.map((r) => r.register).sort()).toEqual(REGISTERS);
  });

  it('serves overlapping points from one request', () => {
    const [request, ...rest] = planReads([point(0, 'HoldingRegister', { dataType: 'float32' }), point(1)]);
    expect(rest).toEqual([]);
    expect(request).toMatchObject({ start: 0, count: 2 });
    expect(request!.points).toEqual([
      { index: 0, offset: 0, count: 2 },
      { index: 1, offset: 1, count: 1 },
    ]);
  });

  it('indexes points by their position in the input, whatever its order', () => {
    const [request] = planReads([point(5), point(3), point(4)]);
    expect(request!.points).toEqual([
      { index: 1, offset: 0, count: 1 },
      { index: 2, offset: 1, count: 1 },
      { index: 0, offset: 2, count: 1 },
    ]);
    expect(planReads([])).toEqual([]);
  });
});

describe('pointSpan', () => {
  it('is the limit for bits and at least the data type width for words', () => {
    expect(pointSpan(point(0, 'CoilRegister', { limit: 3 }))).toBe(3);
    expect(pointSpan(point(0, 'HoldingRegister', { dataType: 'float32' }))).toBe(2);
    expect(pointSpan(point(0, 'HoldingRegister', { dataType: 'int16', limit: 3 }))).toBe(3);
    expect(pointSpan(point(0, 'InputRegister', { limit: 4 }))).toBe(4);
  });
});

describe('extractPoint', () => {
  const request: ReadRequest = {
    register: 'HoldingRegister',
    start: 10,
    count: 4,
    points: [{ index: 0, offset: 1, count: 2 }],
  };

  it("returns the member's words", () => {
    expect(extractPoint(request, [1, 2, 3, 4], request.points[0]!)).toEqual([2, 3]);
  });

  it('throws ProtocolError when the response is short', () => {
    expect(() => extractPoint(request, [1, 2], request.points[0]!)).toThrow(ProtocolError);
  });
});

describe('planReads, for any points', () => {
  const DATA_TYPES: (ModbusDataType | undefined)[] = [undefined, 'int16', 'uint32', 'float32', 'float64'];
  const anyPoint = fc
    .record({
      offset: fc.nat(3000),
      register: fc.constantFrom(...REGISTERS),
      limit: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
      dataType: fc.constantFrom(...DATA_TYPES),
    })
    .map(({ offset, register, limit, dataType }) =>
      point(offset, register, {
        ...(limit === undefined ? {} : { limit }),
        ...(dataType === undefined || isBits(register) ? {} : { dataType }),
      }),
    );
  const anyOptions: fc.Arbitrary<PlanOptions> = fc.record(
    {
      maxGap: fc.nat(20),
      maxRegisters: fc.integer({ min: 1, max: 125 }),
      maxCoils: fc.integer({ min: 1, max: 2000 }),
    },
    { requiredKeys: [] },
  );

  it('covers every point exactly once, at its address, within the caps', () => {
    fc.assert(
      fc.property(fc.array(anyPoint, { maxLength: 150 }), anyOptions, (points, options) => {
        const requests = planReads(points, options);
        const seen = new Array<number>(points.length).fill(0);
        for (const request of requests) {
          const cap = isBits(request.register) ? (options.maxCoils ?? 2000) : (options.maxRegisters ?? 125);
          const alone = request.points.length === 1 && request.points[0]!.count === request.count;
          expect(request.count <= cap || alone).toBe(true);
          for (const member of request.points) {
            seen[member.index]! += 1;
            const p = points[member.index]!;
            expect(p.visitor.register).toBe(request.register);
            expect(request.start + member.offset).toBe(p.visitor.offset);
            expect(member.count).toBe(pointSpan(p));
            expect(member.offset + member.count).toBeLessThanOrEqual(request.count);
          }
        }
        expect(seen.every((n) => n === 1)).toBe(true);
      }),
    );
  });
});
