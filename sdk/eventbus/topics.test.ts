import { describe, expect, it } from 'vitest';
import {
  ANY_DEVICE,
  checkDeviceId,
  DEVICE_TOPIC_SUFFIXES,
  dataUpdate,
  EventBusError,
  isValidFilter,
  membershipGet,
  membershipGetResult,
  membershipUpdated,
  parseDeviceTopic,
  parseNodeTopic,
  stateUpdate,
  stateUpdateResult,
  topicMatches,
  twinCloudUpdated,
  twinGet,
  twinGetResult,
  twinUpdate,
  twinUpdateDelta,
  twinUpdateDocument,
  twinUpdateResult,
} from './topics.js';

const id = 'default/thermostat-1';

describe('topic builders', () => {
  it('build KubeEdge’s topics with the two-level device id', () => {
    expect(twinUpdate(id)).toBe('$hw/events/device/default/thermostat-1/twin/update');
    expect(twinUpdateResult(id)).toBe('$hw/events/device/default/thermostat-1/twin/update/result');
    expect(twinUpdateDelta(id)).toBe('$hw/events/device/default/thermostat-1/twin/update/delta');
    expect(twinUpdateDocument(id)).toBe('$hw/events/device/default/thermostat-1/twin/update/document');
    expect(twinGet(id)).toBe('$hw/events/device/default/thermostat-1/twin/get');
    expect(twinGetResult(id)).toBe('$hw/events/device/default/thermostat-1/twin/get/result');
    expect(twinCloudUpdated(id)).toBe('$hw/events/device/default/thermostat-1/twin/cloud_updated');
    expect(stateUpdate(id)).toBe('$hw/events/device/default/thermostat-1/state/update');
    expect(stateUpdateResult(id)).toBe('$hw/events/device/default/thermostat-1/state/update/result');
    expect(dataUpdate(id)).toBe('$ke/events/device/default/thermostat-1/data/update');
    expect(membershipGet('edge-1')).toBe('$hw/events/node/edge-1/membership/get');
    expect(membershipGetResult('edge-1')).toBe('$hw/events/node/edge-1/membership/get/result');
    expect(membershipUpdated('edge-1')).toBe('$hw/events/node/edge-1/membership/updated');
  });

  it('build wildcard filters for any device, or any device of a namespace', () => {
    expect(twinUpdateDelta(ANY_DEVICE)).toBe('$hw/events/device/+/+/twin/update/delta');
    expect(twinUpdate('factory/+')).toBe('$hw/events/device/factory/+/twin/update');
    expect(membershipUpdated('+')).toBe('$hw/events/node/+/membership/updated');
  });

  it.each([
    ['thermostat-1', 'one level'],
    ['a/b/c', 'three levels'],
    ['/name', 'empty namespace'],
    ['ns/', 'empty name'],
    ['ns/na+me', 'a + inside a level'],
    ['ns/#', 'a #'],
  ])('refuse the device id %j (%s)', (bad) => {
    expect(() => twinUpdate(bad)).toThrow(EventBusError);
    expect(() => checkDeviceId(bad)).toThrow(/namespace|name|device id/);
  });

  it('refuse a node name with a level separator', () => {
    expect(() => membershipGet('a/b')).toThrow(EventBusError);
  });
});

describe('parseDeviceTopic', () => {
  it('takes every device topic apart, back to the id it was built from', () => {
    const builders = [
      twinUpdate,
      twinUpdateResult,
      twinUpdateDelta,
      twinUpdateDocument,
      twinGet,
      twinGetResult,
      twinCloudUpdated,
      stateUpdate,
      stateUpdateResult,
      dataUpdate,
    ];
    const suffixes = builders.map((build) => {
      const parsed = parseDeviceTopic(build('ns-a/dev.1'));
      expect(parsed).toMatchObject({ id: 'ns-a/dev.1', namespace: 'ns-a', name: 'dev.1' });
      return parsed?.suffix;
    });
    expect(suffixes.sort()).toEqual(Object.values(DEVICE_TOPIC_SUFFIXES).flat().sort());
  });

  it.each([
    '$hw/events/device/ns/dev/twin/unknown',
    '$hw/events/device/ns/dev',
    '$hw/events/device/dev/twin/update',
    '$ke/events/device/ns/dev/twin/update',
    '$hw/events/device/ns/dev/data/update',
    '$hw/events/device/+/+/twin/update',
    'hw/events/device/ns/dev/twin/update',
    '',
  ])('returns undefined for %j', (topic) => {
    expect(parseDeviceTopic(topic)).toBeUndefined();
  });

  it('parses node topics', () => {
    expect(parseNodeTopic('$hw/events/node/edge-1/membership/updated')).toEqual({
      node: 'edge-1',
      suffix: 'membership/updated',
    });
    expect(parseNodeTopic('$hw/events/node/edge-1/other')).toBeUndefined();
    expect(parseNodeTopic('$hw/events/node/+/membership/get')).toBeUndefined();
  });
});

describe('topicMatches', () => {
  it.each([
    ['$hw/events/device/+/+/twin/update/delta', '$hw/events/device/ns/d/twin/update/delta', true],
    ['$hw/events/device/+/+/twin/update/delta', '$hw/events/device/ns/d/twin/update', false],
    ['$hw/events/device/+/+/twin/update/delta', '$hw/events/device/d/twin/update/delta', false],
    ['$hw/events/device/ns/#', '$hw/events/device/ns/d/twin/update', true],
    ['$hw/events/device/ns/#', '$hw/events/device/ns', true],
    ['$hw/events/device/ns/#', '$hw/events/device/other/d', false],
    ['a/+/c', 'a//c', true],
    ['a/b', 'a/b/c', false],
    ['#', '$hw/events/device/ns/d/state/update', false],
    ['+/events/#', '$hw/events/x', false],
    ['#', 'plain/topic', true],
  ])('%j against %j is %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });

  it('validates filters', () => {
    for (const good of ['a/+/c', '#', 'a/#', '+', '$hw/events/device/+/+/twin/+'])
      expect(isValidFilter(good)).toBe(true);
    for (const bad of ['', 'a/#/c', 'a/b#', 'a+/b', 'a/\0']) expect(isValidFilter(bad)).toBe(false);
  });
});
