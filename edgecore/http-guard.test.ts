import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { checkTarget, HostCheck, type HttpError, parseHost, pathSegments } from './http-guard.js';

const req = (host: string | undefined, localAddress = '127.0.0.1') =>
  ({ headers: host === undefined ? {} : { host }, socket: { localAddress } }) as unknown as IncomingMessage;

const status = (fn: () => void) => {
  try {
    fn();
    return 200;
  } catch (error) {
    return (error as HttpError).status;
  }
};

describe('parseHost', () => {
  it('reads names, IPv6 literals and ports', () => {
    expect(parseHost('LocalHost.:80')).toEqual({ name: 'localhost', port: 80 });
    expect(parseHost('[::1]:10350')).toEqual({ name: '::1', port: 10350 });
    expect(parseHost('a b')).toBeUndefined();
    expect(parseHost('x:y')).toBeUndefined();
  });
});

describe('HostCheck', () => {
  const check = new HostCheck('0.0.0.0', ['gw.local', 'edge.example:8443'], () => 10350);
  it('serves loopback and the bind host on its port, the address connected to, and the allow-list', () => {
    for (const host of [
      'localhost',
      'localhost:10350',
      '[::1]:10350',
      '127.0.0.1',
      'gw.local:1',
      'edge.example:8443',
    ])
      expect(
        status(() => check.check(req(host))),
        host,
      ).toBe(200);
    expect(status(() => check.check(req('192.168.1.5:10350', '::ffff:192.168.1.5')))).toBe(200);
    expect(status(() => check.check(req(undefined)))).toBe(200);
  });
  it('refuses other names, other ports and other addresses with 421', () => {
    for (const host of [
      'evil.example',
      'localhost:1',
      'edge.example',
      '192.168.1.6',
      'localhost.evil.example',
    ])
      expect(
        status(() => check.check(req(host))),
        host,
      ).toBe(421);
  });
  it('is off with "*"', () => {
    expect(status(() => new HostCheck('127.0.0.1', ['*'], () => 1).check(req('any.example')))).toBe(200);
  });
});

describe('pathSegments', () => {
  it('decodes segments and refuses bad percent-encoding with 400 naming it', () => {
    expect(pathSegments('/api/v1/devices/a%2Fb?x=1%20')).toEqual({
      path: '/api/v1/devices/a%2Fb',
      segments: ['api', 'v1', 'devices', 'a/b'],
    });
    for (const target of ['/api/%', '/api/%zz', '/api/%c3', '/api?x=%', 'http://evil/api'])
      expect(
        status(() => pathSegments(target)),
        target,
      ).toBe(400);
    expect(() => pathSegments('/api/v1/%E0%A4%A')).toThrow(/"%E0%A4%A"/);
  });
});

describe('checkTarget', () => {
  it('passes a plain path without decoding it, and refuses what pathSegments refuses', () => {
    for (const target of ['/api/v1/devices', '/api/v1/devices/a%2Fb?x=1%20', '/healthz?'])
      expect(
        status(() => checkTarget(target)),
        target,
      ).toBe(200);
    for (const target of ['/api/%', '/api?x=%zz', 'http://evil/api', '*'])
      expect(
        status(() => checkTarget(target)),
        String(target),
      ).toBe(400);
  });
});
