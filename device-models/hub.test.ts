import { describe, expect, it } from 'vitest';
import { validatorFor } from './ajv.js';
import {
  compareResourceVersions,
  HubKeepalive,
  HubMessage,
  hubMessage,
  hubResources,
  parseHubResource,
} from './hub.js';

describe('hub resources', () => {
  it.each([
    [
      hubResources.device('node-a', 'default/thermostat-01'),
      { kind: 'device', node: 'node-a', key: 'default/thermostat-01' },
    ],
    [hubResources.membership('node-a'), { kind: 'membership', node: 'node-a' }],
    [hubResources.twin('node-a', 'lab/meter'), { kind: 'twin', node: 'node-a', key: 'lab/meter' }],
    [hubResources.state('node-a', 'lab/meter'), { kind: 'state', node: 'node-a', key: 'lab/meter' }],
  ])('%s reads back', (resource, parsed) => {
    expect(parseHubResource(resource)).toEqual(parsed);
  });

  it('builds the resources KubeEdge spells', () => {
    expect(hubResources.device('n', 'default/d')).toBe('node/n/default/device/d');
    expect(hubResources.twin('n', 'default/d')).toBe('node/n/device/default/d/twin/edge_updated');
  });

  it.each([
    '',
    'node',
    'node//membership',
    'node/n/x',
    'node/n/device/default/d/twin/cloud_updated',
    'pod/n/membership',
  ])('refuses %j', (resource) => {
    expect(parseHubResource(resource)).toBeUndefined();
  });
});

describe('compareResourceVersions', () => {
  it.each([
    ['9', '10', -1],
    ['10', '9', 1],
    ['123', '123', 0],
    ['abc', '1', -1],
    ['abc', 'abc', 0],
  ])('%s vs %s', (a, b, sign) => {
    expect(Math.sign(compareResourceVersions(a, b))).toBe(sign);
  });
});

describe('hubMessage', () => {
  it('makes a response point at its parent', () => {
    const request = hubMessage('edgehub', 'query', 'node/n/default/device/d', {});
    const response = hubMessage(
      'cloudhub',
      'response',
      request.route.resource,
      { code: 200 },
      { parent: request.header.msg_id },
    );
    expect(response.header.parent_msg_id).toBe(request.header.msg_id);
    expect(response.route).toMatchObject({ operation: 'response', group: 'response' });
    expect(request.header.msg_id).not.toBe(response.header.msg_id);
  });
});

describe('keepalive', () => {
  const isKeepalive = validatorFor(HubKeepalive);

  it('carries the outbox depth, and stays a valid message for a receiver that knows no content', () => {
    const message = hubMessage('edgehub', 'keepalive', hubResources.keepalive('node-a'), { outboxDepth: 3 });
    expect(validatorFor(HubMessage)(message)).toBe(true);
    expect(message.route.resource).toBe('node/node-a');
    expect(isKeepalive(message.content)).toBe(true);
  });

  it.each([
    [{}, true],
    [{ outboxDepth: 0, uptime: 5 }, true],
    [{ outboxDepth: -1 }, false],
    [{ outboxDepth: 1.5 }, false],
    [{ outboxDepth: '3' }, false],
  ])('%j is valid: %s', (content, valid) => {
    expect(isKeepalive(content)).toBe(valid);
  });
});
