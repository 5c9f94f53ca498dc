// `fleetcare tickets …` and `fleetcare warranty …` as a user runs them, against a data dir laid
// out like the server's (collector/incidents.db holding tickets + outbox, collector/warranty.db).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { TicketOutbox } from '../../collector/tickets/index.js';
import { WarrantyRegistry } from '../../collector/warranty/index.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const CLI = fileURLToPath(new URL('../../cli/fleetcare.js', import.meta.url));

function run(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const KEY = 'pos-1/printer0/autocutter-error';

// Each test gets a fresh temp dir, removed after it whatever the outcome.
let dir: TempDir;
test.before.each(() => {
  dir = tempDir();
});
test.after.each(() => dir.remove());

test('tickets list / ack / comment / hold / resolve / close go through the outbox to the store and every configured sink', () => {
  const collectorDir = join(dir.path, 'collector');
  mkdirSync(collectorDir, { recursive: true });
  const db = new Database(join(collectorDir, 'incidents.db'));
  new TicketOutbox(db, { sinks: ['hooks'] }).enqueue({
    kind: 'create',
    key: KEY,
    at: Date.now(),
    eventId: 'incident-1-opened',
    ticket: {
      subject: 'Fault: pos-1/printer0 autocutter-error',
      description: 'jammed',
      priority: 'High',
      issueType: 'Hardware Failure',
      customer: 'acme-retail',
      site: 'store-12',
      device: 'pos-1',
      peripheral: 'printer0',
    },
  });
  db.close();
  const cfg = join(dir.path, 'server.json');
  writeFileSync(
    cfg,
    JSON.stringify({ collector: { incidents: { tickets: { webhooks: [{ name: 'hooks', url: 'http://127.0.0.1:9/h', secret: 'a-secret-of-16-chars' }] } } } }),
  );
  const common = ['--data-dir', dir.path, '--config', cfg];

  const list = run(['tickets', 'list', ...common]);
  assert.is(list.code, 0, list.stderr);
  const [header, row, ...more] = list.stdout.trimEnd().split('\n');
  assert.match(header, /^REF\s+STATUS\s+PRIORITY\s+TYPE\s+CUSTOMER\s+WHERE\s+SUBJECT$/);
  assert.match(row, new RegExp(`^${KEY}\\s+Open\\s+High\\s+Hardware Failure\\s+acme-retail\\s+store-12 pos-1/printer0\\s+Fault: `));
  assert.is(more.length, 0);
  // Columns line up under their header.
  assert.is(row.indexOf('Open'), header.indexOf('STATUS'));
  const open = JSON.parse(run(['tickets', 'list', '--open', '--json', ...common]).stdout);
  assert.is(open.length, 1);

  const steps: Array<[string[], string]> = [
    [['ack', KEY, '--comment', 'on it'], 'Replied'],
    [['comment', KEY, 'technician', 'booked'], 'Replied'],
    [['hold', KEY, '--comment', 'waiting for the cutter unit'], 'On Hold'],
    [['resolve', KEY], 'Resolved'],
    [['close', KEY, '--comment', 'cutter unit replaced'], 'Closed'],
  ];
  for (const [args, status] of steps) {
    const r = run(['tickets', ...args, ...common]);
    assert.is(r.code, 0, `${args[0]}: ${r.stderr}`);
    assert.match(r.stdout, `${KEY}\t${status}\t`);
  }
  const check = new Database(join(collectorDir, 'incidents.db'), { readonly: true });
  const outbox = new TicketOutbox(check, { sinks: [] });
  const t = outbox.store.get(KEY)!;
  assert.is(t.status, 'Closed');
  assert.is(t.resolution, 'cutter unit replaced');
  assert.equal(
    outbox.store.comments(KEY).map((c) => c.body),
    ['on it', 'technician booked', 'waiting for the cutter unit'],
  );
  // The create and the five changes are queued for the configured webhook sink.
  assert.is(outbox.pending('hooks'), 6);
  check.close();

  const none = run(['tickets', 'close', KEY, ...common]);
  assert.is(none.code, 1);
  assert.match(none.stderr, `${KEY} is already Closed`);
  const unknown = run(['tickets', 'ack', 'nope/x/y', ...common]);
  assert.is(unknown.code, 1);
  assert.match(unknown.stderr, 'no ticket nope/x/y');
  const usage = run(['tickets', 'frob', ...common]);
  assert.is(usage.code, 64);
  const badStatus = run(['tickets', 'list', '--status', 'Sleeping', ...common]);
  assert.is(badStatus.code, 64);
  const noneOpen = run(['tickets', 'list', '--open', ...common]);
  assert.is(noneOpen.code, 0, noneOpen.stderr);
  assert.is(noneOpen.stdout, 'no tickets\n');
  assert.equal(JSON.parse(run(['tickets', 'list', '--open', '--json', ...common]).stdout), []);
});

test('warranty import reports bad rows by line and field; list shows the status', () => {
  const csv = join(dir.path, 'serials.csv');
  writeFileSync(
    csv,
    [
      'serial_no,item_code,kind,customer,device_id,warranty_expiry_date,amc_expiry_date',
      'TM88-1,TM-T88VI,peripheral,acme-retail,pos-1,2099-12-31,',
      'TM88-2,TM-T88VI,peripheral,acme-retail,pos-2,2001-01-31,2099-12-31',
      'TM88-3,TM-T88VI,printer,acme-retail,pos-3,2099-12-31,',
    ].join('\n') + '\n',
  );
  const empty = run(['warranty', 'list', '--data-dir', dir.path]);
  assert.is(empty.stdout, 'no warranty records\n');
  const r = run(['warranty', 'import', csv, '--data-dir', dir.path]);
  assert.is(r.code, 1, 'a refused row makes the exit status 1');
  assert.match(r.stdout, 'imported 2 serial(s), 1 row(s) refused');
  assert.match(r.stderr, /line 4, kind: /);
  const table = run(['warranty', 'list', '--data-dir', dir.path]);
  assert.match(table.stdout, /^SERIAL\s+ITEM\s+KIND\s+CUSTOMER\s+DEVICE\s+WARRANTY UNTIL\s+AMC UNTIL\s+STATUS\n/);
  assert.match(table.stdout, /\nTM88-2\s+TM-T88VI\s+peripheral\s+acme-retail\s+pos-2\s+2001-01-31\s+2099-12-31\s+Under AMC\n/);
  const list = run(['warranty', 'list', '--data-dir', dir.path, '--json']);
  assert.is(list.code, 0, list.stderr);
  const rows = JSON.parse(list.stdout) as Array<{ serial_no: string; status: string }>;
  assert.equal(
    rows.map((x) => [x.serial_no, x.status]),
    [
      ['TM88-1', 'Under Warranty'],
      ['TM88-2', 'Under AMC'],
    ],
  );
  // The server's incident service reads the same registry file.
  const reg = new WarrantyRegistry(join(dir.path, 'collector', 'warranty.db'));
  assert.is(reg.get('TM88-1')?.device_id, 'pos-1');
  reg.close();
  const missing = run(['warranty', 'import', join(dir.path, 'nope.csv'), '--data-dir', dir.path]);
  assert.is(missing.code, 1);
  assert.match(missing.stderr, 'cannot read');
});

test.run();
