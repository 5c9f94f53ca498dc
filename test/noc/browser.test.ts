// The NOC web page in a real browser: headless Chromium from Debian driven by playwright-core,
// against a real `fleetcare server` (broker + collector + incidents + NOC) with a simulated fleet
// of real agents reading virtual peripherals, plus one store whose ESC/POS printer we jam.
// Log in, see the fleet, open a device, see a chart with data, run a remote command and see its
// result, watch the jam's incident appear on the board live (no reload), read the reports,
// switch to Arabic and see the page right-to-left; a viewer sees no operator buttons.
// SCREENSHOTS=1 also writes docs/screenshots/*.png (1440×900) of every main view.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { Browser, Page } from 'playwright-core';
import { startAgent, agentConfigSchema, type AgentHandle } from '../../agent/index.js';
import { defaultUiDir } from '../../noc/server.js';
import { startFleet, type Fleet } from '../../sim/fleet.js';
import { createPtyPair, type PtyPair } from '../../sim/pty.js';
import { VirtualEscposPrinter } from '../../sim/escpos-printer.js';
import { PASSWORDS, startNocServer, type NocTestServer } from '../helpers/noc.js';
import { CHROMIUM, openNocPage } from '../helpers/noc-browser.js';
import { waitFor } from '../helpers/net.js';
import { GOLD_24X7 } from '../helpers/sla.js';

const SHOTS = process.env.SCREENSHOTS === '1' ? fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url)) : null;
/** Generous: the first chart or incident needs agents to start, publish and the collector to store. */
const UI_TIMEOUT_MS = 30_000;

// The store with the printer that jams (besides the seeded fleet).
const JAM_DEVICE = 'pos-900';
const JAM_SITE = 'riyadh-olaya-01';
const JAM_TENANT = 'souq-alkhair';
const JAM_SERIAL = 'TM88VI-NOC-000900';
const JAM_KEY = `${JAM_DEVICE}/printer0/autocutter-error`;

const gold = GOLD_24X7;

if (!existsSync(CHROMIUM)) {
  test.skip(`browser tests: no Chromium at ${CHROMIUM} (Debian package chromium; \`npm test\` installs it as root)`, () => {});
} else {
  let s: NocTestServer;
  let fleet: Fleet | null = null;
  let pty: PtyPair | null = null;
  let printer: VirtualEscposPrinter | null = null;
  let agent: AgentHandle | null = null;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  const shot = async (p: Page, name: string) => {
    if (!SHOTS) return;
    // Let charts and gauges finish drawing, move the pointer away from hover effects.
    await p.mouse.move(0, 0);
    await p.evaluate(() => document.getElementById('toasts')?.replaceChildren());
    await p.waitForTimeout(300);
    await p.screenshot({ path: join(SHOTS, `${name}.png`) });
  };

  test.before(async () => {
    assert.ok(existsSync(join(defaultUiDir(), 'index.html')), `the web page is built into ${defaultUiDir()} (npm run build)`);
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
    const log = pino({ level: 'silent' });
    s = await startNocServer({
      collector: {
        incidents: {
          tickMs: 200,
          // A jammed cutter or an empty paper roll becomes an incident after 1 s instead of minutes.
          detectors: {
            reactive: { holdMs: { 'autocutter-error': 1000, 'paper-end': 1000 }, recoverMs: 1000 },
            // Wear rates over seconds (the parts forecast gets ETAs); a lead time of 1 ms opens no wear tickets.
            wear: { leadTimeMs: 1, rateWindowMs: 5000, bucketMs: 100, minPairSpanMs: 200, minHistoryMs: 1500 },
          },
          slas: { 'souq-alkhair': gold, 'shahrvand-retail': gold, 'huamei-mart': gold },
          languages: { 'souq-alkhair': 'ar', 'shahrvand-retail': 'fa', 'huamei-mart': 'zh' },
        },
      },
    });
    const registry = s.server.broker!.registry;
    fleet = await startFleet({
      devices: 6,
      seed: 11,
      brokerUrl: s.brokerUrl,
      provision: (id, site, tenant) => registry.addDevice(id, { site, tenant }),
      dataDir: join(s.dir.path, 'sim'),
      intervalMs: 500,
      log,
    });

    s.server.incidents!.warranty.upsert({
      serial_no: JAM_SERIAL,
      item_code: 'TM-T88VI',
      kind: 'peripheral',
      customer: JAM_TENANT,
      device_id: JAM_DEVICE,
      warranty_expiry_date: '2099-12-31',
    });
    pty = await createPtyPair();
    printer = new VirtualEscposPrinter({ path: pty.devicePath, profile: 'epson-tm-t88vi', serial: JAM_SERIAL, ageFraction: 0.7 });
    await printer.open();
    agent = await startAgent(
      agentConfigSchema.parse({
        device: {
          id: JAM_DEVICE,
          token: registry.addDevice(JAM_DEVICE, { site: JAM_SITE, tenant: JAM_TENANT }),
          site: JAM_SITE,
          tenant: JAM_TENANT,
          model: 'sim-pos-terminal',
          serial: 'HOST-0900',
        },
        broker: { url: s.brokerUrl },
        dataDir: join(s.dir.path, 'agent-900'),
        telemetry: { publishIntervalMs: 500 },
        peripherals: [{ id: 'printer0', driver: 'escpos-serial', path: pty.hostPath, intervalMs: 500 }],
      }),
      { log },
    );
    const all = [...fleet.devices.map((d) => d.id), JAM_DEVICE];
    await waitFor(
      'every device online with its inventory',
      () => {
        const known = s.server.collector!.fleet();
        return all.every((id) => known.find((d) => d.device === id && d.online && d.peripherals.length > 0));
      },
      30_000,
      200,
    );
    // One store's receipt printer runs out of paper: the overview and the board have something to show.
    fleet.devices[1].printer.paperOut(true);

    ({ browser, page } = await openNocPage(pageErrors, { viewport: { width: 1440, height: 900 }, timeoutMs: UI_TIMEOUT_MS, timezoneId: 'Asia/Riyadh' }));
  });

  test.after(async () => {
    await browser?.close().catch(() => {});
    await agent?.close('test done').catch(() => {});
    await fleet?.close().catch(() => {});
    await printer?.close().catch(() => {});
    await pty?.close().catch(() => {});
    await s?.close();
  });

  test('log in: a wrong password is refused, the right one shows the fleet', async () => {
    await page.goto(s.url + '/');
    await page.locator('#login-user').fill('operator');
    await page.locator('#login-password').fill('not-the-password');
    await page.locator('form.login button[type=submit]').click();
    await page.getByText('Wrong user name or password.').waitFor();
    await page.locator('#login-password').fill(PASSWORDS.operator);
    await page.locator('form.login button[type=submit]').click();
    await page.locator('nav a[data-nav="overview"][aria-current="page"]').waitFor();
    assert.is(await page.locator('.topbar .user').innerText(), 'operator · operator');
  });

  test('overview: the demo fleet with counts by status, its sites, live indicator', async () => {
    const total = String(fleet!.devices.length + 1);
    await page.waitForFunction((n) => document.querySelector('.tile-total .tile-value')?.textContent === n, total);
    for (const site of new Set([...fleet!.devices.map((d) => d.site), JAM_SITE])) await page.locator(`tr[data-site="${site}"]`).waitFor();
    await page.locator('#live-indicator[data-state="connected"]').waitFor();
    // The store without paper needs attention (it becomes a warning once its printer reports it).
    const noPaper = page.locator(`#overview-data tr[data-device="${fleet!.devices[1].id}"]`);
    await noPaper.filter({ hasText: 'printer0: Paper out' }).waitFor();
    await shot(page, 'overview');
  });

  test('search with the keyboard ("/"), open a device from the results', async () => {
    const target = fleet!.devices[0];
    await page.locator('h1').click(); // focus is on the page, not in a field
    await page.keyboard.press('/');
    assert.ok(await page.locator('#fleet-search').evaluate((el) => el === document.activeElement), '/ focuses the search box');
    await page.keyboard.type(target.id);
    // The page searches 200 ms after the last key, so a pause while typing may first search a
    // prefix (whose results already show the target): wait for the search of the whole id.
    await page.waitForFunction((id) => new URLSearchParams(location.search).get('q') === id, target.id);
    await page.locator(`#search-results tr[data-device="${target.id}"]`).waitFor();
    await page.locator(`#search-results tr[data-device="${target.id}"] a`).click();
    await page.waitForURL(`**/devices/${target.id}`);
    await page.locator('h1', { hasText: target.id }).waitFor();
  });

  test('device page: peripherals with wear, a chart with data, ranges', async () => {
    // A back-office device: printer, card reader, fingerprint module and the attendance clock.
    const backOffice = fleet!.devices.find((d) => d.clock)!;
    await page.goto(`${s.url}/devices/${backOffice.id}`);
    for (const p of ['printer0', 'msr0', 'finger0', 'clock0']) await page.locator(`article[data-peripheral="${p}"]`).waitFor();
    // A chart with data: the series route answered points and uPlot drew them.
    await page.waitForFunction(() => Number(document.querySelector('#chart')?.getAttribute('data-points') ?? 0) > 0);
    await page.locator('#chart canvas').waitFor();
    const field = await page.locator('#series-field').inputValue();
    assert.match(field, /^[a-z0-9]+\/[A-Za-z]/, 'a peripheral/field is charted');
    // Another range refetches and redraws.
    await page.locator('button[data-range="1h"]').click();
    assert.is(await page.locator('button[data-range="1h"]').getAttribute('aria-pressed'), 'true');
    await page.waitForFunction(() => Number(document.querySelector('#chart')?.getAttribute('data-points') ?? 0) > 0);
    // Wear of the parts, as gauges with words.
    await page.locator('article[data-peripheral] .gauge').first().waitFor();
    const gaugeText = await page.locator('article[data-peripheral] .gauge').first().innerText();
    assert.match(gaugeText, /of rated life used/);
  });

  test('remote diagnosis: ping and read counters run on the device, results shown', async () => {
    await page.locator('button[data-command="ping"]').click();
    const ping = page.locator('li.command').filter({ hasText: 'Ping' }).first();
    await ping.and(page.locator('[data-status="ok"]')).waitFor();
    await page.locator('button[data-command="read-counters"]').click();
    const counters = page.locator('li.command').filter({ hasText: 'Read counters' }).first();
    await counters.and(page.locator('[data-status="ok"]')).waitFor();
    const result = await counters.locator('.command-result').innerText();
    assert.match(result, /counters/, `read-counters shows the counters read: ${result}`);
    // For the picture, a chart with a line rather than a few dots (the chart refetches by itself).
    if (SHOTS) await page.waitForFunction(() => Number(document.querySelector('#chart')?.getAttribute('data-points') ?? 0) >= 30, null, { timeout: 60_000 });
    await shot(page, 'device');
  });

  test('incidents board: the jammed printer appears live (no reload) with its SLA countdown', async () => {
    await page.locator('nav a[data-nav="incidents"]').click();
    await page.waitForURL('**/incidents');
    await page.locator('#board table, #board .empty').first().waitFor();
    assert.is(await page.locator(`tbody[data-ref="${JAM_KEY}"]`).count(), 0, 'no incident before the jam');
    // A marker that a reload would wipe.
    await page.evaluate(() => ((window as unknown as { noReload: boolean }).noReload = true));
    printer!.setCutterJam(true);
    const row = page.locator(`tbody[data-ref="${JAM_KEY}"]`);
    await row.waitFor();
    assert.ok(await page.evaluate(() => (window as unknown as { noReload?: boolean }).noReload === true), 'the row came in without a reload');
    assert.is(await row.getAttribute('data-priority'), 'High');
    const text = await row.innerText();
    assert.match(text, 'Hardware failure');
    assert.match(text, JAM_TENANT);
    assert.match(text, 'Under warranty');
    const response = row.locator('td[data-sla="response"]');
    assert.is(await response.getAttribute('data-state'), 'ok');
    assert.match(await response.innerText(), /on track\s+due in 59m|on track\s+due in 1h/);
  });

  test('incidents board: an operator comments and acknowledges; the response SLA is met', async () => {
    const row = page.locator(`tbody[data-ref="${JAM_KEY}"]`);
    await row.locator('button[data-action="comment"]').click();
    // Wait for the page to reflect each action (a read right after it may see the page before).
    await page.locator('#action-dialog').waitFor({ state: 'visible' });
    await page.locator('#action-text').fill('Technician on the way with a spare cutter');
    await page.locator('#action-send').click();
    await page.locator('.toast', { hasText: 'Comment: done' }).waitFor();
    await row.locator('button[data-action="ack"]').click();
    await page.locator(`tbody[data-ref="${JAM_KEY}"][data-status="Replied"]`).waitFor();
    await row.locator('td[data-sla="response"][data-state="met"]').waitFor();
    await row.locator('button[data-action="ack"]').waitFor({ state: 'detached' }); // no second acknowledgement
    // The ticket's details carry the comment, signed by the operator. The details row shows
    // "loading" until the ticket's details arrive: wait for the comment, then read the row.
    await row.locator('.subject button').click();
    const details = page.locator('tr.details-row', { hasText: 'Technician on the way with a spare cutter' });
    await details.waitFor();
    assert.match(await details.innerText(), '— operator');
    // For the picture, the paper-out ticket too (best effort: it is not what this test checks).
    if (SHOTS)
      await page
        .locator('tbody[data-ref]')
        .nth(1)
        .waitFor({ timeout: 20_000 })
        .catch(() => {});
    await shot(page, 'incidents');
  });

  test('reports: every report renders with a CSV export', async () => {
    await page.locator('nav a[data-nav="reports"]').click();
    await page.waitForURL('**/reports');
    for (const name of ['problems', 'sla', 'hours', 'mtbf', 'top-devices']) {
      await page.locator(`#report-${name}`).waitFor();
      await page.waitForFunction((n) => !document.querySelector(`#report-${n} .loading`), name);
      assert.is(await page.locator(`#report-${name} .error`).count(), 0, `${name} has no error`);
      const href = await page.locator(`a[data-csv="${name}"]`).getAttribute('href');
      assert.match(href!, `/api/reports/${name}?`);
      assert.match(href!, 'format=csv');
      const csv = await page.request.get(s.url + href!);
      assert.is(csv.status(), 200, `${name} CSV`);
      assert.match(csv.headers()['content-type'], 'text/csv');
    }
    await page.locator(`#report-top-devices a[href="/devices/${JAM_DEVICE}"]`).waitFor();
    await shot(page, 'reports');
    // One customer only: the filter goes into the URL and every report.
    await page.locator('#report-tenant').fill(JAM_TENANT);
    await page.locator('form.report-form button[type=submit]').click();
    await page.waitForURL(`**/reports?*tenant=${JAM_TENANT}*`);
    // Until the filtered view has rendered, the unfiltered reports still show (with no .loading):
    // wait for the section whose link carries the filter, then for its answer.
    await page.locator(`#report-problems a[data-csv="problems"][href*="tenant=${JAM_TENANT}"]`).waitFor();
    await page.waitForFunction(() => !document.querySelector('#report-problems .loading'));
    const customers = await page.locator('#report-problems .bars').last().locator('.bar-label').allInnerTexts();
    assert.equal(customers, [JAM_TENANT]);
    assert.match((await page.locator('a[data-csv="sla"]').getAttribute('href'))!, `tenant=${JAM_TENANT}`);
  });

  test('reports: the parts forecast shows the parts the busy printers will need', async () => {
    // The stores print steadily while the page is checked: their cutters get a usage rate and an ETA.
    const busy = setInterval(() => {
      for (const d of fleet!.devices) d.printer.print(10, 2000);
    }, 250);
    try {
      await page.goto(`${s.url}/reports?horizon=90`);
      await page.locator('#report-parts-forecast').waitFor();
      assert.is(await page.locator('#parts-horizon').inputValue(), '90');
      // The section loads once; changing the horizon fetches again, until a row shows.
      await waitFor(
        'a part row in the forecast section',
        async () => {
          if (await page.locator('#report-parts-forecast tr[data-part]').count()) return true;
          await page.locator('#parts-horizon').selectOption(String((await page.locator('#parts-horizon').inputValue()) === '90' ? 60 : 90));
          await page.waitForFunction(() => !document.querySelector('#report-parts-forecast .loading'));
          return page
            .locator('#report-parts-forecast tr[data-part]')
            .count()
            .then((n) => n > 0 || undefined);
        },
        UI_TIMEOUT_MS,
        500,
      );
      const row = page.locator('#report-parts-forecast tr[data-part]').first();
      assert.match(await row.innerText(), /Part no\./);
      const href = await page.locator('a[data-csv="parts-forecast"]').getAttribute('href');
      assert.match(href!, '/api/reports/parts-forecast?');
      const csv = await page.request.get(s.url + href!);
      assert.is(csv.status(), 200);
      assert.match(await csv.text(), /^tenant,site,model_profile,part,part_number,name_en,quantity/);
    } finally {
      clearInterval(busy);
    }
  });

  test('wall screen: ?wall=1 turns on large type, the button turns it off', async () => {
    await page.goto(`${s.url}/?wall=1`);
    await page.locator('#wall-toggle[aria-pressed="true"]').waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.classList.contains('wall')));
    const big = await page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
    await page.locator('#wall-toggle').click();
    assert.ok(!(await page.evaluate(() => document.documentElement.classList.contains('wall'))));
    const normal = await page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
    assert.ok(big > normal, `wall type ${big}px > ${normal}px`);
  });

  test('Arabic: the page turns right-to-left with Arabic text and digits, and stays so after a reload', async () => {
    await page.locator('nav a[data-nav="overview"]').click();
    await page.locator('#lang-select').selectOption('ar');
    assert.is(await page.evaluate(() => document.dir), 'rtl');
    assert.is(await page.evaluate(() => document.documentElement.lang), 'ar');
    assert.is(await page.locator('nav a[data-nav="overview"]').innerText(), 'الأسطول');
    await page.waitForFunction(() => /[٠-٩]/.test(document.querySelector('.tile-total .tile-value')?.textContent ?? ''));
    // The layout mirrors: the navigation sits right of the brand.
    const brand = await page.locator('.brand').boundingBox();
    const nav = await page.locator('.topbar nav').boundingBox();
    assert.ok(brand && nav && nav.x < brand.x, 'navigation left of the brand in RTL');
    await page.reload();
    await page.locator('nav a[data-nav="overview"][aria-current="page"]').waitFor();
    assert.is(await page.evaluate(() => document.dir), 'rtl', 'the choice is remembered');
    await page.locator(`#overview-data tr[data-device="${JAM_DEVICE}"], #overview-data tr[data-site="${JAM_SITE}"]`).first().waitFor();
    await shot(page, 'overview-ar');
    for (const [lang, dir] of [
      ['fa', 'rtl'],
      ['zh', 'ltr'],
      ['en', 'ltr'],
    ] as const) {
      await page.locator('#lang-select').selectOption(lang);
      assert.is(await page.evaluate(() => document.dir), dir, lang);
    }
  });

  test('a viewer sees everything but no operator buttons', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const viewer = await ctx.newPage();
    viewer.setDefaultTimeout(UI_TIMEOUT_MS);
    await viewer.goto(`${s.url}/devices/${JAM_DEVICE}`);
    await viewer.locator('#login-user').fill('viewer');
    await viewer.locator('#login-password').fill(PASSWORDS.viewer);
    await viewer.locator('form.login button[type=submit]').click();
    await viewer.locator('article[data-peripheral="printer0"]').waitFor();
    assert.is(await viewer.locator('button[data-command]').count(), 0);
    await viewer.getByText('Operators can run remote diagnosis.').waitFor();
    await viewer.goto(`${s.url}/incidents`);
    await viewer.locator(`tbody[data-ref="${JAM_KEY}"]`).waitFor();
    assert.is(await viewer.locator('button[data-action]').count(), 0);
    await ctx.close();
  });

  test('no script errors or CSP violations on the way', () => {
    assert.equal(pageErrors, []);
  });
}

test.run();
