// Dispatch in a real browser: headless Chromium (Debian) driven by playwright-core against a real
// `fleetcare server` and real agents whose printers' cutters wear out. Predicted-failure tickets
// are assigned by the rules to a technician of the right region (not the other city's team); a
// store outside every region stays unassigned and is counted; the operator reassigns on the board;
// resolving one ticket with a cause makes it a known fix that the next ticket of that kind shows;
// the knowledge base finds and edits it; the reports page shows team performance.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Browser, Page } from 'playwright-core';
import { startAgent, type AgentHandle } from '../../agent/index.js';
import { agentConfigSchema } from '../../agent/config.js';
import { defaultUiDir } from '../../noc/server.js';
import { ApiClient, PASSWORDS, startNocServer, type NocTestServer } from '../helpers/noc.js';
import { CHROMIUM, openNocPage } from '../helpers/noc-browser.js';
import { waitFor } from '../helpers/net.js';
import { WearingPrinter } from '../helpers/wearing-printer.js';

const UI_TIMEOUT_MS = 30_000;
const WEAR = { leadTimeMs: 3_600_000, rateWindowMs: 60_000, bucketMs: 100, minPairSpanMs: 200, minHistoryMs: 1500 };
const A = 'pos-a/printer0/cutter-wear-out';
const B = 'pos-b/printer0/cutter-wear-out';
const C = 'pos-c/printer0/cutter-wear-out';

if (!existsSync(CHROMIUM)) {
  test.skip(`dispatch in the browser: no Chromium at ${CHROMIUM} (Debian package chromium)`, () => {});
} else {
  let s: NocTestServer;
  const agents: AgentHandle[] = [];
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const row = (ref: string) => page.locator(`tbody[data-ref="${ref}"]`);

  test.before(async () => {
    assert.ok(existsSync(join(defaultUiDir(), 'index.html')), `the web page is built into ${defaultUiDir()} (npm run build)`);
    s = await startNocServer({ collector: { incidents: { tickMs: 200, detectors: { wear: WEAR }, dispatch: { passMs: 200 } } } });
    const admin = await ApiClient.login(s.url, 'admin');
    for (const team of [
      { id: 'riyadh', name: 'Riyadh field team', sites: ['riyadh-1'], skills: ['printer'] },
      { id: 'jeddah', name: 'Jeddah field team', sites: ['jeddah-1'] },
    ])
      assert.is((await admin.post('/api/dispatch/teams', { team })).status, 200);
    for (const technician of [
      { id: 'lina', name: 'Lina Haddad', team: 'riyadh' },
      { id: 'ali', name: 'Ali Nasser', team: 'jeddah' },
    ])
      assert.is((await admin.post('/api/dispatch/technicians', { technician })).status, 200);
    const log = pino({ level: 'silent' });
    for (const [id, site] of [
      ['pos-a', 'riyadh-1'],
      ['pos-b', 'riyadh-1'],
      ['pos-c', 'dammam-2'],
    ]) {
      const token = s.server.broker!.registry.addDevice(id, { site, tenant: 'acme' });
      const config = agentConfigSchema.parse({
        device: { id, token, site, tenant: 'acme' },
        broker: { url: s.brokerUrl },
        dataDir: join(s.dir.path, 'agents', id),
        telemetry: { publishIntervalMs: 200 },
        discovery: false,
        peripherals: [],
      });
      agents.push(await startAgent(config, { log, extraPeripherals: [{ driver: new WearingPrinter(1_991_000), intervalMs: 100, timeoutMs: 1000 }] }));
    }
    await waitFor('three predicted-failure tickets, dispatched', () => [A, B, C].every((k) => s.server.incidents!.tickets.byKey(k)?.assignment), 60_000, 100);
    ({ browser, page } = await openNocPage(pageErrors, { viewport: { width: 1600, height: 1000 }, timeoutMs: UI_TIMEOUT_MS }));
  });

  test.after(async () => {
    await browser?.close().catch(() => {});
    for (const a of agents) await a.close('test done').catch(() => {});
    await s?.close();
  });

  test('the board shows who goes: the Riyadh technician for Riyadh stores, unassigned (and counted) for a store no team covers', async () => {
    await page.goto(`${s.url}/incidents`);
    await page.locator('#login-user').fill('operator');
    await page.locator('#login-password').fill(PASSWORDS.operator);
    await page.locator('form.login button[type=submit]').click();
    for (const ref of [A, B]) {
      const cell = row(ref).locator('td.assignment');
      await cell.locator('.technician', { hasText: 'Lina Haddad' }).waitFor();
      assert.is(await cell.getAttribute('data-technician'), 'lina');
    }
    const unassigned = row(C).locator('td.assignment[data-assignment="unassigned"] .badge.unassigned');
    await unassigned.waitFor();
    assert.is(await unassigned.innerText(), 'Unassigned');
    assert.match((await unassigned.getAttribute('title')) ?? '', /no team covers site dammam-2, tenant acme/);
    await page.locator('#unassigned-count[data-count="1"]').waitFor();
    // The predictive ticket names the part to bring.
    const ticket = s.server.incidents!.tickets.byKey(A)!;
    assert.match(ticket.description, /Part to bring: Autocutter unit/);
  });

  test('the operator reassigns on the board: the cell and the ticket history follow', async () => {
    await row(C).locator('select.assign-select').selectOption('ali');
    await row(C).locator('td.assignment[data-technician="ali"] .technician', { hasText: 'Ali Nasser' }).waitFor();
    await page.locator('#unassigned-count[data-count="0"]').waitFor();
    const t = s.server.incidents!.tickets.byKey(C)!;
    assert.equal([t.assignment!.technician, t.assignment!.by, t.assignment!.reason], ['ali', 'operator', 'assigned by operator']);
    assert.match(s.server.incidents!.tickets.comments(t.ref).at(-1)!.body, /^Assigned to Ali Nasser \(ali, team jeddah\) by operator$/);
  });

  test('resolving with a cause makes a known fix; the next ticket of that kind shows it in its details', async () => {
    await row(A).locator('button.link-button').click();
    const form = row(A).locator('form.resolve-cause');
    await form.waitFor();
    await form.locator('select.cause-select').selectOption('cutter-wear-out');
    await form.locator('textarea.cause-text').fill('Replaced the autocutter unit and ran 50 test cuts.');
    await form.locator('button[type=submit]').click();
    // The board lists open tickets: the resolved one leaves it.
    await row(A).waitFor({ state: 'detached' });
    const resolved = s.server.incidents!.tickets.byKey(A)!;
    assert.equal([resolved.status, resolved.cause?.code, resolved.cause?.by], ['Resolved', 'cutter-wear-out', 'operator']);
    await row(B).locator('button.link-button').click();
    const fixes = row(B).locator('[data-section="known-fixes"]');
    await fixes.locator('li[data-fix="epson-tm-t88vi|cutter-wear-out|cutter-wear-out"]').waitFor();
    assert.match(await fixes.innerText(), /Replaced the autocutter unit and ran 50 test cuts\./);
    assert.match(await fixes.innerText(), /held 0 of 1/);
  });

  test('the knowledge base lists, finds and edits the known fix', async () => {
    await page.locator('nav a[data-nav="knowledge"]').click();
    const item = page.locator('li[data-fix="epson-tm-t88vi|cutter-wear-out|cutter-wear-out"]');
    await item.waitFor();
    await page.locator('#kb-search').fill('toner cartridge');
    await page.locator('#kb-search').press('Enter');
    await page.locator('#kb-list .empty').waitFor();
    await page.locator('#kb-search').fill('autocutter');
    await page.locator('#kb-search').press('Enter');
    await item.waitFor();
    await item.locator('button.kb-edit').click();
    await item.locator('input.kb-title').fill('Replace the autocutter unit');
    await item.locator('button.kb-save').click();
    await item.locator('h2', { hasText: 'Replace the autocutter unit' }).waitFor();
  });

  test('the reports page shows team performance per team and technician', async () => {
    await page.locator('nav a[data-nav="reports"]').click();
    const card = page.locator('#report-team-performance');
    await card.locator('tr[data-scope="technician"][data-technician="lina"]').waitFor();
    assert.match(await card.locator('tr[data-scope="technician"][data-technician="lina"]').innerText(), /Lina Haddad\s+2\b/);
    await card.locator('tr[data-scope="technician"][data-technician="ali"]').waitFor();
    assert.ok(await card.locator('a[data-csv="team-performance"]').getAttribute('href'));
  });

  test('no script errors on the way', () => {
    assert.equal(pageErrors, []);
  });
}

test.run();
