import { describe, expect, it } from 'vitest';
import { chooseStatusMode, describeStatusMode, StatusResourceMissing } from './status-mode.js';

// What discovery lists for devices.kubeedge.io/v1beta1 with each CRD set.
const edgetwin = ['devicemodels', 'devices', 'devices/status', 'devicestatuses', 'devicestatuses/status'];
const kubeedge = ['devicemodels', 'devices'];

describe('chooseStatusMode: where and how status is written', () => {
  it("patches DeviceStatus …/status on edgetwin's CRDs", () => {
    const mode = chooseStatusMode('DeviceStatus', edgetwin);
    expect(mode).toEqual({
      kind: 'DeviceStatus',
      plural: 'devicestatuses',
      subresource: true,
      deviceCopy: true,
    });
    expect(describeStatusMode(mode)).toMatch(/server-side apply.*also applied to devices\/\{name\}\/status/);
    expect(chooseStatusMode('Device', edgetwin)).toEqual({
      kind: 'Device',
      plural: 'devices',
      subresource: true,
      deviceCopy: false,
    });
  });

  it("falls back to a merge patch of the Device itself on KubeEdge's CRDs (no DeviceStatus, no subresource)", () => {
    const mode = chooseStatusMode('DeviceStatus', kubeedge);
    expect(mode).toEqual({ kind: 'Device', plural: 'devices', subresource: false, deviceCopy: false });
    expect(describeStatusMode(mode)).toMatch(/object itself.*no status subresource/);
    expect(chooseStatusMode('Device', kubeedge)).toEqual(mode);
  });

  it('patches a DeviceStatus object itself where its CRD has no status subresource', () => {
    expect(chooseStatusMode('DeviceStatus', [...kubeedge, 'devicestatuses'])).toEqual({
      kind: 'DeviceStatus',
      plural: 'devicestatuses',
      subresource: false,
      deviceCopy: false,
    });
  });

  it('names the resource when no Device resource is served', () => {
    const choose = () => chooseStatusMode('DeviceStatus', ['devicemodels']);
    expect(choose).toThrow(StatusResourceMissing);
    expect(choose).toThrow(/devices\.devices\.kubeedge\.io\/v1beta1 is not served/);
    expect(() => chooseStatusMode('DeviceStatus', [])).toThrow(
      expect.objectContaining({ code: 'STATUS_RESOURCE_MISSING', status: 404 }),
    );
  });
});
