// The incident service end to end with real parts: the server (aedes broker + collector with the
// embedded store + incident service), a real agent reading a virtual ESC/POS printer over a PTY.
// A jammed cutter becomes, after its hold, one incident and one well-formed ticket (priority,
// issue type, customer/site/device/serial, warranty, SLA, text in the tenant's language); clearing
// it resolves both after the recovery time; a server restart duplicates nothing; the same jam
// again reopens the same ticket.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { pino } from 'pino';
import { runServer, type RunningServer } from '../../cli/server.js';
import { startAgent, agentConfigSchema, type AgentHandle } from '../../agent/index.js';
import { createPtyPair, type PtyPair } from '../../sim/pty.js';
import { VirtualEscposPrinter } from '../../sim/escpos-printer.js';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles } from '../../firmware-profiles/index.js';
import { waitFor } from '../helpers/net.js';
import { oneNodeConfig } from './one-node.js';
import { GOLD_24X7 } from '../helpers/sla.js';

const KEY = 'pos-1/printer0/autocutter-error';
const SERIAL = 'TM88VI-SVC-000123';
const HOLD_MS = 1500;
const RECOVER_MS = 1500;

const gold = GOLD_24X7;

test('jammed cutter → incident + ticket after the hold; cleared → resolved; restart → no duplicate; jam again → same ticket reopened', async () => {
  const log = pino({ level: 'silent' });
  const { dir, config } = await oneNodeConfig('fleetcare-incident-service-', {
    batch: { maxDelayMs: 50 },
    incidents: {
      tickMs: 200,
      detectors: { reactive: { holdMs: { 'autocutter-error': HOLD_MS }, recoverMs: RECOVER_MS } },
      slas: { 'acme-retail': gold },
      languages: { 'acme-retail': 'ar' },
    },
  });
  const profile = loadFirmwareProfiles(defaultFirmwareProfilesDir()).find((p) => p.id === 'epson-tm-t88vi')!;
  let server: RunningServer | null = await runServer(config, { log });
  let pty: PtyPair | null = null;
  let printer: VirtualEscposPrinter | null = null;
  let agent: AgentHandle | null = null;
  try {
    const token = server.broker!.registry.addDevice('pos-1', { site: 'store-12', tenant: 'acme-retail' });
    server.incidents!.warranty.upsert({
      serial_no: SERIAL,
      item_code: 'TM-T88VI',
      kind: 'peripheral',
      customer: 'acme-retail',
      device_id: 'pos-1',
      warranty_expiry_date: '2099-12-31',
    });
    pty = await createPtyPair();
    printer = new VirtualEscposPrinter({ path: pty.devicePath, profile: 'epson-tm-t88vi', serial: SERIAL });
    await printer.open();
    agent = await startAgent(
      agentConfigSchema.parse({
        device: { id: 'pos-1', token, site: 'store-12', tenant: 'acme-retail', serial: 'HOST-0001' },
        broker: { url: server.brokerUrl },
        dataDir: join(dir.path, 'agent'),
        telemetry: { publishIntervalMs: 200 },
        peripherals: [{ id: 'printer0', driver: 'escpos-serial', path: pty.hostPath, intervalMs: 200 }],
      }),
      { log },
    );
    const srv = () => server!;
    const ticketWhen = (status: string) =>
      waitFor(
        `ticket ${status}`,
        () => {
          const t = srv().incidents!.tickets.byKey(KEY);
          return t?.status === status ? t : null;
        },
        20_000,
      );
    await waitFor(
      'printer inventory with serial and profile',
      () =>
        srv()
          .collector!.fleet()
          .find((d) => d.device === 'pos-1')
          ?.peripherals.some((p) => p.id === 'printer0' && p.serial === SERIAL && p.profile === 'epson-tm-t88vi'),
      20_000,
    );
    await waitFor('printer samples reach the detectors', () => srv().incidents!.stats().samples >= 3, 10_000);
    assert.is(srv().incidents!.tickets.list().length, 0, 'a healthy printer opens nothing');

    // Jam the cutter: after the hold, one incident and one ticket.
    printer.setCutterJam(true);
    const ticket = await waitFor('ticket for the jammed cutter', () => srv().incidents!.tickets.byKey(KEY), 20_000);
    const incident = srv().incidents!.incidents.get(KEY)!;
    assert.is(incident.state, 'open');
    assert.ok(incident.openedAt! - incident.firstSeen >= HOLD_MS, 'opened only after the hold');
    assert.is(ticket.status, 'Open');
    assert.is(ticket.priority, 'High', 'profile maps autocutter-error to High; the SLA allows it');
    assert.is(ticket.issueType, 'Hardware Failure');
    assert.is(ticket.customer, 'acme-retail');
    assert.is(ticket.site, 'store-12');
    assert.is(ticket.device, 'pos-1');
    assert.is(ticket.peripheral, 'printer0');
    assert.is(ticket.serial, SERIAL);
    assert.is(ticket.warrantyStatus, 'Under Warranty');
    assert.is(ticket.language, 'ar');
    assert.ok(ticket.description.includes(profile.runbook['autocutter-error'].ar), 'runbook of the profile, in Arabic');
    assert.ok(ticket.description.includes('fault: autocutter-error'), 'figures');
    assert.is(ticket.sla.serviceLevelAgreement, 'Gold 24x7');
    assert.is(ticket.sla.agreementStatus, 'First Response Due');
    // 24/7: the deadlines are the opening plus the High times.
    assert.is(ticket.sla.responseBy, ticket.openedAt + 3600_000);
    assert.is(ticket.sla.resolutionBy, ticket.openedAt + 8 * 3600_000);
    const claims = srv().incidents!.warranty.claimsFor(SERIAL);
    assert.is(claims.length, 1, 'a warranty claim for a hardware failure under warranty');
    assert.is(claims[0].incident_key, ticket.ref);
    assert.is(claims[0].warranty_amc_status, 'Under Warranty');

    // Clear the jam: resolved after the recovery condition held.
    printer.setCutterJam(false);
    const resolved = await ticketWhen('Resolved');
    const after = srv().incidents!.incidents.get(KEY)!;
    assert.is(after.state, 'resolved');
    assert.ok(after.resolvedAt! - after.openedAt! >= RECOVER_MS, 'resolved only after the recovery time');
    assert.is(resolved.sla.agreementStatus, 'Fulfilled');
    assert.ok(srv().incidents!.tickets.comments(resolved.ref).length >= 1, 'the recovery is commented');

    // Restart the server (same data dir and port); the agent reconnects by itself.
    await server.close('restart');
    server = null;
    server = await runServer(config, { log });
    await waitFor('agent back and telemetry flowing after the restart', () => srv().incidents!.stats().samples >= 5, 20_000);
    const ticks = srv().incidents!.stats().ticks;
    await waitFor('a few ticks after the restart', () => srv().incidents!.stats().ticks >= ticks + 5, 10_000);
    assert.is(srv().incidents!.tickets.list().length, 1, 'no duplicate ticket after the restart');
    assert.is(srv().incidents!.incidents.list().length, 1, 'no duplicate incident after the restart');
    assert.is(srv().incidents!.tickets.byKey(KEY)!.status, 'Resolved');

    // The same jam within the reopen window reopens the same incident and ticket.
    printer.setCutterJam(true);
    const reopened = await ticketWhen('Open');
    assert.is(reopened.ref, ticket.ref);
    assert.is(srv().incidents!.tickets.list().length, 1);
    assert.is(srv().incidents!.incidents.get(KEY)!.reopenCount, 1);
    assert.is(srv().incidents!.warranty.claimsFor(SERIAL).length, 1, 'still one claim');
  } finally {
    await agent?.close('test done').catch(() => {});
    await server?.close('test done');
    await printer?.close().catch(() => {});
    await pty?.close();
    dir.remove();
  }
});

test('a printer identified after its first samples: its fault is mapped within seconds, not at the next inventory refresh', async () => {
  const log = pino({ level: 'silent' });
  const { dir, config } = await oneNodeConfig('fleetcare-incident-identify-', {
    batch: { maxDelayMs: 50 },
    incidents: {
      tickMs: 200,
      // Far beyond the test: only the detector feed's own look-up can learn the profile.
      inventoryRefreshMs: 3_600_000,
      detectors: { reactive: { holdMs: { 'autocutter-error': 300 } } },
    },
  });
  const server = await runServer(config, { log });
  let pty: PtyPair | null = null;
  let printer: VirtualEscposPrinter | null = null;
  let agent: AgentHandle | null = null;
  try {
    const token = server.broker!.registry.addDevice('pos-2', { site: 'store-12', tenant: 'acme-retail' });
    pty = await createPtyPair();
    // Not answering yet (powered off): the agent lists printer0 without an identity, and its
    // samples reach the detectors before the printer has a profile.
    agent = await startAgent(
      agentConfigSchema.parse({
        device: { id: 'pos-2', token, site: 'store-12', tenant: 'acme-retail', serial: 'HOST-0002' },
        broker: { url: server.brokerUrl },
        dataDir: join(dir.path, 'agent'),
        telemetry: { publishIntervalMs: 200 },
        peripherals: [{ id: 'printer0', driver: 'escpos-serial', path: pty.hostPath, intervalMs: 200 }],
      }),
      { log },
    );
    const printer0 = () => server.collector!.device('pos-2')?.peripherals.find((p) => p.id === 'printer0');
    await waitFor('printer0 in the inventory, not identified', () => printer0() && printer0()!.profile === undefined, 20_000);
    const samples = server.incidents!.stats().samples;
    await waitFor('printer samples reach the detectors', () => server.incidents!.stats().samples >= samples + 3, 20_000);
    // Powered on with a jammed cutter: identified (the inventory again, now with the profile), then its fault.
    printer = new VirtualEscposPrinter({ path: pty.devicePath, profile: 'epson-tm-t88vi', serial: 'TM88VI-SVC-000456' });
    printer.setCutterJam(true);
    await printer.open();
    await waitFor('printer0 identified', () => printer0()?.profile === 'epson-tm-t88vi', 20_000);
    await waitFor('an incident for the jam', () => server.incidents!.incidents.get('pos-2/printer0/autocutter-error'), 20_000);
  } finally {
    await agent?.close('test done').catch(() => {});
    await server.close('test done');
    await printer?.close().catch(() => {});
    await pty?.close();
    dir.remove();
  }
});

test.run();
