import { describe, expect, it } from 'vitest';
import { type Placement, placeDevice } from './device-controller.js';

const at = (node: string, resourceVersion: string): Placement => ({ node, resourceVersion });

describe('placeDevice: what to send for one device', () => {
  it('sends a new device with a known model to its node', () => {
    expect(placeDevice(undefined, { node: 'a', resourceVersion: '5', ready: true })).toEqual({
      steps: [{ op: 'upsert', node: 'a' }],
      sent: at('a', '5'),
    });
  });

  it('holds a device whose model is not known, and sends it once the model is', () => {
    const held = placeDevice(undefined, { node: 'a', resourceVersion: '5', ready: false });
    expect(held).toEqual({ steps: [], sent: undefined });
    expect(placeDevice(held.sent, { node: 'a', resourceVersion: '5', ready: true }, true).steps).toEqual([
      { op: 'upsert', node: 'a' },
    ]);
  });

  it('sends nothing for a device without a node', () => {
    expect(placeDevice(undefined, { resourceVersion: '5', ready: true })).toEqual({
      steps: [],
      sent: undefined,
    });
  });

  it('resends on a new resourceVersion, not on the same one unless asked', () => {
    expect(placeDevice(at('a', '5'), { node: 'a', resourceVersion: '6', ready: true })).toEqual({
      steps: [{ op: 'upsert', node: 'a' }],
      sent: at('a', '6'),
    });
    expect(placeDevice(at('a', '5'), { node: 'a', resourceVersion: '5', ready: true }).steps).toEqual([]);
    expect(placeDevice(at('a', '5'), { node: 'a', resourceVersion: '5', ready: true }, true).steps).toEqual([
      { op: 'upsert', node: 'a' },
    ]);
  });

  it('moves a device: removed from the old node, then sent to the new one', () => {
    expect(placeDevice(at('a', '5'), { node: 'b', resourceVersion: '7', ready: true })).toEqual({
      steps: [
        { op: 'remove', node: 'a', resourceVersion: '7' },
        { op: 'upsert', node: 'b' },
      ],
      sent: at('b', '7'),
    });
  });

  it('removes a deleted or unassigned device from its node', () => {
    expect(placeDevice(at('a', '5'), { resourceVersion: '9', ready: false })).toEqual({
      steps: [{ op: 'remove', node: 'a', resourceVersion: '9' }],
      sent: undefined,
    });
    expect(placeDevice(at('a', '5'), { resourceVersion: '9', ready: true }).steps).toEqual([
      { op: 'remove', node: 'a', resourceVersion: '9' },
    ]);
  });

  it('keeps a sent device where it is while its model is gone, and moves it out of the old node', () => {
    expect(placeDevice(at('a', '5'), { node: 'a', resourceVersion: '6', ready: false })).toEqual({
      steps: [],
      sent: at('a', '5'),
    });
    expect(placeDevice(at('a', '5'), { node: 'b', resourceVersion: '6', ready: false })).toEqual({
      steps: [{ op: 'remove', node: 'a', resourceVersion: '6' }],
      sent: undefined,
    });
  });

  it('does nothing for a deleted device that never went anywhere', () => {
    expect(placeDevice(undefined, { resourceVersion: '9', ready: true })).toEqual({
      steps: [],
      sent: undefined,
    });
  });
});

describe('placeDevice with content: what the edge would get', () => {
  const sent: Placement = { node: 'a', resourceVersion: '5', content: 'spec-1' };

  it('does not resend a new resourceVersion that only wrote status (CRDs without the status subresource)', () => {
    expect(placeDevice(sent, { node: 'a', resourceVersion: '6', ready: true, content: 'spec-1' })).toEqual({
      steps: [],
      sent,
    });
  });

  it('resends when the content changed, or when asked (a model change)', () => {
    expect(placeDevice(sent, { node: 'a', resourceVersion: '7', ready: true, content: 'spec-2' })).toEqual({
      steps: [{ op: 'upsert', node: 'a' }],
      sent: { node: 'a', resourceVersion: '7', content: 'spec-2' },
    });
    expect(
      placeDevice(sent, { node: 'a', resourceVersion: '6', ready: true, content: 'spec-1' }, true).steps,
    ).toEqual([{ op: 'upsert', node: 'a' }]);
  });

  it('still moves a device whose content did not change', () => {
    expect(
      placeDevice(sent, { node: 'b', resourceVersion: '6', ready: true, content: 'spec-1' }).steps,
    ).toEqual([
      { op: 'remove', node: 'a', resourceVersion: '6' },
      { op: 'upsert', node: 'b' },
    ]);
  });
});
