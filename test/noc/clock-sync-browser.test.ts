// The remote fix for an attendance clock's time, in a real browser: headless Chromium from Debian
// driven by playwright-core against a real `fleetcare server` and real agents — one reading a
// virtual ZKTeco clock that lost its time, one without a clock. The clock-drift fault and its
// ticket show on the device page; the operator presses "Sync clock time"; the offset before and
// after is shown; the fault clears and the ticket resolves by itself (the recovery path). Only
// clocks get the button, and only operators.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Browser, Page } from 'playwright-core';
import { startAgent, agentConfigSchema, type AgentHandle } from '../../agent/index.js';
import { defaultUiDir } from '../../noc/server.js';
import type { TicketDetail } from '../../noc/api.js';
import { VirtualZkClock } from '../../sim/zk-clock.js';
import { PASSWORDS, startNocServer, type NocTestServer } from '../helpers/noc.js';
import { CHROMIUM, openNocPage } from '../helpers/noc-browser.js';
import { waitFor } from '../helpers/net.js';

const UI_TIMEOUT_MS = 30_000;
const CLOCK_DEVICE = 'pos-bo-1';
const PLAIN_DEVICE = 'pos-till-1';
const REF = `${CLOCK_DEVICE}/clock0/clock-drift`;

if (!existsSync(CHROMIUM)) {
  test.skip(`clock sync in the browser: no Chromium at ${CHROMIUM} (Debian package chromium)`, () => {});
} else {
  let s: NocTestServer;
  let clock: VirtualZkClock;
  const agents: AgentHandle[] = [];
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  const login = async (p: Page, user: 'operator' | 'viewer', path: string) => {
    await p.goto(s.url + path);
    await p.locator('#login-user').fill(user);
    await p.locator('#login-password').fill(PASSWORDS[user]);
    await p.locator('form.login button[type=submit]').click();
  };

  test.before(async () => {
    assert.ok(existsSync(join(defaultUiDir(), 'index.html')), `the web page is built into ${defaultUiDir()} (npm run build)`);
    const log = pino({ level: 'silent' });
    s = await startNocServer({
      // Hold and recovery of a fraction of a second instead of minutes; the path is the production one.
      collector: { incidents: { tickMs: 100, detectors: { reactive: { holdMs: { 'clock-drift': 300 }, recoverMs: 300 } } } },
    });
    const registry = s.server.broker!.registry;
    // The back office's clock lost its time after a power cut: 15 minutes behind, and drifting.
    clock = await VirtualZkClock.start({ deviceName: 'K40', clockOffsetSec: -900, clockDriftPpm: 40 });
    const agentOf = (id: string, peripherals: unknown[]) =>
      startAgent(
        agentConfigSchema.parse({
          device: { id, token: registry.addDevice(id, { site: 'riyadh-3', tenant: 'acme' }), site: 'riyadh-3', tenant: 'acme' },
          broker: { url: s.brokerUrl },
          dataDir: join(s.dir.path, id),
          telemetry: { publishIntervalMs: 200 },
          discovery: false,
          peripherals,
        }),
        { log },
      );
    agents.push(
      await agentOf(CLOCK_DEVICE, [
        { id: 'host', driver: 'host', intervalMs: 1000 },
        { id: 'clock0', driver: 'zk-clock-tcp', host: clock.host, port: clock.port, intervalMs: 200, timeoutMs: 2000 },
      ]),
    );
    agents.push(await agentOf(PLAIN_DEVICE, [{ id: 'host', driver: 'host', intervalMs: 1000 }]));
    // The page draws its command buttons from the inventory it first loads.
    await waitFor(
      'both devices online with their inventory',
      () => {
        const known = s.server.collector!.fleet();
        return (
          known.find((d) => d.device === CLOCK_DEVICE && d.online && d.peripherals.some((p) => p.id === 'clock0')) &&
          known.find((d) => d.device === PLAIN_DEVICE && d.online && d.peripherals.length > 0)
        );
      },
      30_000,
      100,
    );
    ({ browser, page } = await openNocPage(pageErrors, { viewport: { width: 1440, height: 900 }, timeoutMs: UI_TIMEOUT_MS }));
  });

  test.after(async () => {
    await browser?.close().catch(() => {});
    for (const a of agents) await a.close('test done').catch(() => {});
    await s?.close();
    await clock?.close();
  });

  test('the drifting clock: fault on the peripheral, its ticket on the device page', async () => {
    await login(page, 'operator', `/devices/${CLOCK_DEVICE}`);
    const clockCard = page.locator('article[data-peripheral="clock0"]');
    await clockCard.locator('.chip-fault', { hasText: 'Clock time off' }).waitFor();
    // The ticket comes in live (the page is not reloaded).
    await page.locator(`[data-section="tickets"] tr[data-ref="${REF}"]`).waitFor();
    assert.match(await page.locator(`[data-section="tickets"] tr[data-ref="${REF}"]`).innerText(), 'Open');
  });

  test('only the clock has a Sync clock time button', async () => {
    const sync = page.locator('button[data-command="sync-clock-time"]');
    assert.is(await sync.count(), 1);
    assert.is(await sync.getAttribute('data-peripheral'), 'clock0');
    assert.is(await sync.innerText(), 'Sync clock time');
    await page.goto(`${s.url}/devices/${PLAIN_DEVICE}`);
    await page.locator('article[data-peripheral="host"]').waitFor();
    await page.locator('button[data-command="ping"]').waitFor();
    assert.is(await page.locator('button[data-command="sync-clock-time"]').count(), 0, 'a device without a clock has no sync button');
  });

  test('operator presses Sync clock time: offset before/after shown, the fault clears, the ticket resolves by itself', async () => {
    await page.goto(`${s.url}/devices/${CLOCK_DEVICE}`);
    await page.locator(`[data-section="tickets"] tr[data-ref="${REF}"]`).waitFor();
    await page.locator('button[data-command="sync-clock-time"][data-peripheral="clock0"]').click();
    const done = page.locator('li.command[data-status="ok"]').filter({ hasText: 'Sync clock time' }).first();
    await done.waitFor();
    assert.match(await done.innerText(), 'clock0');
    const seconds = async (field: string) => {
      const text = await done.locator(`[data-result="sync-clock-time"] dd[data-field="${field}"]`).innerText();
      return Number(text.replace(/[^\d.-]/g, ''));
    };
    const before = await seconds('offsetBeforeSec');
    const after = await seconds('offsetAfterSec');
    assert.ok(Math.abs(before + 900) <= 2, `before: ${before} s`);
    assert.ok(Math.abs(after) <= 1, `after: ${after} s`);
    assert.ok(Math.abs(clock.clockOffsetSec()) <= 1, 'the clock itself was set');
    // The next poll finds the clock on time: the fault clears on the peripheral…
    await page.waitForFunction(() => !document.querySelector('article[data-peripheral="clock0"] .chip-fault'));
    // …and after the recovery hold the ticket resolves without anyone touching it.
    const row = page.locator(`[data-section="tickets"] tr[data-ref="${REF}"]`);
    await row.filter({ hasText: 'Resolved' }).waitFor();
    const ticket = (await (await page.request.get(`${s.url}/api/tickets/${encodeURIComponent(REF)}`)).json()) as TicketDetail;
    assert.equal(
      ticket.statusHistory.map((x) => x.status),
      ['Open', 'Resolved'],
      'resolved by the recovery, not by an operator',
    );
    // The remote fix went with the ticket: the command's outcome is a comment on it, once.
    const diagnosis = ticket.comments.filter((c) => c.body.startsWith('Remote diagnosis by '));
    assert.is(diagnosis.length, 1, JSON.stringify(ticket.comments));
    assert.match(diagnosis[0].body, /sync-clock-time \(clock0\) → ok\n.*offsetBeforeSec/s);
  });

  test('a viewer sees the clock but no Sync clock time button', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const viewer = await ctx.newPage();
    viewer.setDefaultTimeout(UI_TIMEOUT_MS);
    await login(viewer, 'viewer', `/devices/${CLOCK_DEVICE}`);
    await viewer.locator('article[data-peripheral="clock0"]').waitFor();
    await viewer.getByText('Operators can run remote diagnosis.').waitFor();
    assert.is(await viewer.locator('button[data-command]').count(), 0);
    await ctx.close();
  });

  test('no script errors on the way', () => {
    assert.equal(pageErrors, []);
  });
}

test.run();
