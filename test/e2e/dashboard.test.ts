import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReadyChild, startChild, stopChild } from '../support/child.js';

/**
 * The dashboard as a person uses it: `edgetwin demo` as its own process (port 0, a fresh data directory) and
 * Debian's Chromium driven by playwright-core, kept off the network (it reaches the demo on loopback only).
 */
const bin = new URL('../../dist/edgecore/cli/main.js', import.meta.url).pathname;
const root = new URL('../../', import.meta.url).pathname;
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(root, 'test-output', 'dashboard.png');

/** Headless, no sandbox (root in CI), and nothing that talks to Google or resolves a name. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-proxy-server',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

const THERMOSTAT = 'default/thermostat-01';
const cell = (property: string, column: string) => `tr[data-property="${property}"] td.${column}`;

/** Resolves once the element at `selector` shows text other than `before` (and other than the `—` placeholder). */
async function textChanges(page: Page, selector: string, before: string | null): Promise<string> {
  const handle = await page.waitForFunction(
    ([sel, old]) => {
      const text = document.querySelector(sel)?.textContent?.trim();
      return text && text !== '—' && text !== old ? text : false;
    },
    [selector, before] as const,
  );
  return (await handle.jsonValue()) as string;
}

describe('the dashboard in Chromium', () => {
  let dir: string;
  let demo: ReadyChild | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let url: string;
  const pageErrors: string[] = [];
  const offOrigin: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `${CHROMIUM} is missing: install the Debian package chromium ` +
          '(apt-get install -y --no-install-recommends chromium; test/setup-host.sh does it when run as root)',
      );
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-dashboard-'));
    demo = await startChild(
      process.execPath,
      [bin, 'demo', '--data', join(dir, 'data'), '--http-port', '0', '--broker-port', '0'],
      /dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/,
      { timeoutMs: 60_000 },
    );
    url = demo.match[1]!;
    // playwright-core without a `userDataDir` starts Chromium on a fresh temporary profile.
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
    page.setDefaultTimeout(20_000);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('request', (request) => {
      const target = request.url();
      if (!target.startsWith(url) && !target.startsWith('data:')) offOrigin.push(target);
    });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    if (demo) await stopChild(demo.child);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lists the devices, filters them, and opens the thermostat', async () => {
    await page.goto(url);
    await page.locator(`tr[data-device="${THERMOSTAT}"]`).waitFor();
    expect(await page.locator('tr[data-device]').count()).toBeGreaterThanOrEqual(6);
    // Its simulator answers, so it is (or soon becomes) online, coloured as such.
    await page.locator(`tr[data-device="${THERMOSTAT}"] .badge.state.good`).waitFor();
    expect(await page.locator(`tr[data-device="${THERMOSTAT}"] .badge.state`).textContent()).toBe('online');

    await page.getByLabel('filter devices').fill('opcua');
    await page.waitForFunction(() => document.querySelectorAll('tr[data-device]').length === 1);
    expect(await page.locator('tr[data-device]').getAttribute('data-device')).toBe('default/tank-01');
    await page.getByLabel('filter devices').fill('');
    await page.locator(`tr[data-device="${THERMOSTAT}"]`).waitFor();

    await page.getByRole('link', { name: 'thermostat-01' }).click();
    await page.locator(`${cell('setpoint', 'set')} input`).waitFor();
    expect(page.url()).toBe(`${url}#/default/thermostat-01`);
  });

  it("shows the thermostat's temperature change live, with its sparkline and history chart", async () => {
    const first = await textChanges(page, cell('temperature', 'reported'), null);
    const next = await textChanges(page, cell('temperature', 'reported'), first);
    expect(Number(next)).not.toBeNaN();
    expect(next).not.toBe(first);
    await page.locator(`${cell('temperature', 'trend')} svg polyline`).waitFor();
    await page.locator('.history .chart canvas').waitFor();
    // The chart keeps appending what the events bring.
    const points = () => page.locator('.history .chart').getAttribute('data-points').then(Number);
    const shown = await points();
    await page.waitForFunction(
      (n) => Number(document.querySelector('.history .chart')?.getAttribute('data-points')) > n,
      shown,
    );
    expect(await points()).toBeGreaterThan(shown);
  }, 60_000);

  it('sets a setpoint and shows it reported and in sync', async () => {
    const before = (await page.locator(cell('setpoint', 'reported')).textContent())?.trim();
    const target = before === '23.5' ? '24.5' : '23.5';
    await page.getByLabel('new desired setpoint').fill(target);
    await page.locator(cell('setpoint', 'set')).getByRole('button', { name: 'Set' }).click();
    await page.waitForFunction(
      ([reported, desired, sync, value]) =>
        document.querySelector(reported)?.textContent?.trim() === value &&
        document.querySelector(desired)?.textContent?.trim() === value &&
        document.querySelector(sync)?.textContent?.includes('in sync'),
      [cell('setpoint', 'reported'), cell('setpoint', 'desired'), cell('setpoint', 'sync'), target] as const,
    );
    expect(await page.locator(`${cell('setpoint', 'set')} .reason`).count()).toBe(0);
  }, 60_000);

  it("shows a refused value's reason and leaves the desired value as it was", async () => {
    const desired = (await page.locator(cell('setpoint', 'desired')).textContent())?.trim();
    await page.getByLabel('new desired setpoint').fill('80');
    await page.locator(cell('setpoint', 'set')).getByRole('button', { name: 'Set' }).click();
    const reason = page.locator(`${cell('setpoint', 'set')} .reason`);
    await reason.waitFor();
    expect(await reason.textContent()).toContain('80 is above the maximum 35');
    expect(await reason.textContent()).toContain('400');
    expect((await page.locator(cell('setpoint', 'desired')).textContent())?.trim()).toBe(desired);
  });

  it('loaded nothing from outside its origin, threw nothing, and leaves a screenshot', {
    timeout: 90_000,
  }, async () => {
    expect(offOrigin).toEqual([]);
    expect(pageErrors).toEqual([]);
    // The picture for the README gets a longer line in its chart.
    const points = process.env.UPDATE_SCREENSHOT === '1' ? 20 : 3;
    await page.waitForFunction(
      (n) => Number(document.querySelector('.history .chart')?.getAttribute('data-points')) >= n,
      points,
      { timeout: 60_000 },
    );
    await mkdir(join(root, 'test-output'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    if (process.env.UPDATE_SCREENSHOT === '1')
      await copyFile(SCREENSHOT, join(root, 'docs', 'dashboard.png'));
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: join(root, 'test-output', 'dashboard-dark.png'), fullPage: true });
  });
});
