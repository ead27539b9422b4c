import { describe, expect, it } from 'vitest';
import { registerProtocol, samplesDir, validateFiles } from '../../device-models/internal.js';
import { http } from './schema.js';

describe('http schemas', () => {
  it('take the sample plug, and the checks find a body without a placeholder', async () => {
    registerProtocol(http);
    const result = await validateFiles([`${samplesDir()}/http-sensor.yaml`]);
    expect(result.problems).toEqual([]);
    expect(result.devices.map((d) => d.protocol)).toEqual(['http']);
    const relay = result.devices[0]!.properties.find((p) => p.name === 'relay')!;
    expect(http.checkVisitor!(relay.visitor as never, relay.model)).toEqual([]);
    expect(http.checkVisitor!({ path: '/x', body: { on: true } }, relay.model)).toEqual([
      { path: ['body'], message: `has no "\${value}": every write would send the same body` },
    ]);
  });
});
