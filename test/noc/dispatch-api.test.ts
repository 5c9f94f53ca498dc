// Dispatch through a real `fleetcare server` (NOC API) and the `fleetcare` CLI on its data dir:
// teams and technicians (admin only), the dispatch pass assigning new tickets by the rules, the
// unassigned shown and counted, reassignment by hand (operator; a viewer is refused), a removed
// technician's tickets back to the rules, resolve with a cause code, known fixes and the team
// performance report (JSON and CSV); bad input answers a clear 400/404/409.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TicketsAnswer } from '../../noc/api.js';
import type { DispatchOverview, KnownFixesAnswer, TeamPerformanceReport, TicketKnownFixes } from '../../noc/dispatch-api.js';
import { parseCsvRows } from '../../collector/warranty/import.js';
import { ApiClient, startNocServer, type NocTestServer } from '../helpers/noc.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';

let s: NocTestServer;
let config: string;

test.before(async () => {
  s = await startNocServer({
    collector: {
      incidents: {
        dispatch: { passMs: 100 },
        defaultSla: {
          service_level: 'Gold',
          default_priority: 'Medium',
          priorities: [{ priority: 'Medium', response_time: 4 * 3600, resolution_time: 24 * 3600 }],
          calendar: { time_zone: 'UTC', twenty_four_seven: true },
        },
      },
    },
  });
  config = join(s.dir.path, 'server.json');
  writeFileSync(config, JSON.stringify({ dataDir: s.dir.path }));
});
test.after(async () => {
  await s?.close();
});

async function openTicket(device: string, site: string): Promise<string> {
  const r = await s.server.incidents!.ticketState.enqueue({
    kind: 'create',
    key: `${device}/-/offline`,
    at: Date.now(),
    ticket: { subject: `${device} offline`, description: 'd', priority: 'Medium', issueType: 'Connectivity', customer: 'acme', site, device },
  });
  assert.ok(r.applied);
  return r.ref;
}

test('teams and technicians: admin only; the rules assign by region, the unassigned are shown and counted', async () => {
  const admin = await ApiClient.login(s.url, 'admin');
  const operator = await ApiClient.login(s.url, 'operator');
  const viewer = await ApiClient.login(s.url, 'viewer');
  assert.is((await operator.post('/api/dispatch/teams', { team: { id: 'riyadh', name: 'Riyadh', sites: ['riyadh-1'] } })).status, 403);
  const bad = await admin.post('/api/dispatch/teams', { team: { id: 'Riyadh Team', name: 'x', skills: ['toaster'] } });
  assert.is(bad.status, 400);
  assert.match(bad.text, /team\.id/);
  assert.match(bad.text, /skills/);
  assert.is((await admin.post('/api/dispatch/teams', { team: { id: 'riyadh', name: 'Riyadh', sites: ['riyadh-1'] } })).status, 200);
  assert.is((await admin.post('/api/dispatch/teams', { team: { id: 'riyadh', name: 'again' } })).status, 409);
  const noTeam = await admin.post('/api/dispatch/technicians', { technician: { id: 'zed', name: 'Zed', team: 'nowhere' } });
  assert.equal([noTeam.status, /no team nowhere/.test(noTeam.text)], [404, true]);
  for (const [id, name] of [
    ['lina', 'Lina'],
    ['omar', 'Omar'],
  ])
    assert.is((await admin.post('/api/dispatch/technicians', { technician: { id, name, team: 'riyadh', email: `${id}@svc.example` } })).status, 200);
  const a = await openTicket('pos-1', 'riyadh-1');
  const b = await openTicket('pos-2', 'dammam-4');
  const list = await waitFor('dispatched', async () => {
    const r = await viewer.get<TicketsAnswer>('/api/tickets?open=true');
    return r.body.items.every((t) => t.assignment) ? r.body : undefined;
  });
  const byRef = new Map(list.items.map((t) => [t.ref, t]));
  assert.ok(['lina', 'omar'].includes(byRef.get(a)!.assignment!.technician!));
  assert.equal([byRef.get(b)!.assignment!.technician, byRef.get(b)!.assignment!.reason], [null, 'no team covers site dammam-4, tenant acme']);
  const o = await viewer.get<DispatchOverview>('/api/dispatch');
  assert.equal([o.body.unassigned, o.body.undispatched, o.body.technicians.map((t) => t.load).reduce((x, y) => x + y, 0)], [1, 0, 1]);
});

test('reassign by hand (operator, not viewer); unknown technician 404; fleetcare dispatch assign and board; removing a technician hands tickets back', async () => {
  const operator = await ApiClient.login(s.url, 'operator');
  const viewer = await ApiClient.login(s.url, 'viewer');
  const ref = 'pos-2/-/offline';
  const path = `/api/tickets/${encodeURIComponent(ref)}/assign`;
  assert.is((await viewer.post(path, { technician: 'lina' })).status, 403);
  const ghost = await operator.post(path, { technician: 'ghost' });
  assert.equal([ghost.status, /no technician ghost/.test(ghost.text)], [404, true]);
  assert.is((await operator.post('/api/tickets/nope%2F-%2Foffline/assign', { technician: 'lina' })).status, 404);
  const ok = await operator.post<{ assignment: { technician: string; by: string } }>(path, { technician: 'lina' });
  assert.equal([ok.status, ok.body.assignment.technician, ok.body.assignment.by], [200, 'lina', 'operator']);
  assert.is((await operator.post(path, { technician: 'lina' })).status, 409);
  // The CLI on the same data dir, while the server runs.
  const cliAssign = await runCli(['dispatch', 'assign', ref, 'omar', '--config', config]);
  assert.is(cliAssign.code, 0, cliAssign.stderr);
  assert.match(cliAssign.stdout, /^pos-2\/-\/offline\tomar\triyadh\tassigned by cli/);
  const board = await runCli(['dispatch', 'board', '--config', config]);
  assert.match(board.stdout, /^REF\s+PRIORITY\s+SITE\s+TECHNICIAN\s+TEAM\s+ESCALATED\s+WHY/);
  assert.match(board.stdout, /pos-2\/-\/offline\s+Medium\s+dammam-4\s+omar\s+riyadh/);
  const techs = await runCli(['technician', 'list', '--config', config, '--json']);
  assert.equal(
    (JSON.parse(techs.stdout) as Array<{ id: string }>).map((t) => t.id),
    ['lina', 'omar'],
  );
  // Omar leaves: his Dammam ticket goes back to the rules (which match nobody there).
  const removed = await runCli(['technician', 'remove', 'omar', '--config', config]);
  assert.is(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, /technician omar removed; back to the dispatch rules: pos-2\/-\/offline/);
  assert.match(removed.stdout, /pos-2\/-\/offline\tunassigned\ttechnician omar was removed; no team covers site dammam-4/);
  const again = await runCli(['technician', 'remove', 'omar', '--config', config]);
  assert.equal([again.code, /no technician omar/.test(again.stderr)], [1, true]);
  const badSkill = await runCli(['team', 'add', 'x', '--skills', 'toaster', '--config', config]);
  assert.equal([badSkill.code, /skills/.test(badSkill.stderr)], [64, true]);
});

test('resolve with a cause code (refused: unknown code, no text); known fixes for the next ticket; the knowledge base is searchable and editable', async () => {
  const operator = await ApiClient.login(s.url, 'operator');
  const viewer = await ApiClient.login(s.url, 'viewer');
  const ref = 'pos-1/-/offline';
  const path = `/api/tickets/${encodeURIComponent(ref)}/resolve-with-cause`;
  const codes = await viewer.get<TicketKnownFixes>(`/api/tickets/${encodeURIComponent(ref)}/known-fixes`);
  assert.ok(codes.body.causeCodes.includes('cable-or-power'), codes.text);
  assert.equal(codes.body.fixes, []);
  const unknown = await operator.post<{ message: string }>(path, { cause: 'gremlins', text: 'x' });
  assert.is(unknown.status, 400);
  assert.match(unknown.body.message, /^cause "gremlins" is not one of .*cable-or-power/);
  assert.is((await operator.post(path, { cause: 'cable-or-power' })).status, 400);
  assert.is((await viewer.post(path, { cause: 'cable-or-power', text: 'x' })).status, 403);
  const r = await operator.post<{ status: string }>(path, { cause: 'cable-or-power', text: 'The router power supply was loose; secured it.' });
  assert.equal([r.status, r.body.status], [200, 'Resolved']);
  assert.is((await operator.post(path, { cause: 'cable-or-power', text: 'again' })).status, 409);
  // The next offline ticket of that kind shows it.
  const next = await openTicket('pos-3', 'riyadh-1');
  const fixes = await viewer.get<TicketKnownFixes>(`/api/tickets/${encodeURIComponent(next)}/known-fixes`);
  assert.equal(
    fixes.body.fixes.map((f) => [f.cause, f.failureMode, f.resolutions, f.pending, f.text.en]),
    [['cable-or-power', 'offline', 1, 1, 'The router power supply was loose; secured it.']],
  );
  const found = await viewer.get<KnownFixesAnswer>('/api/known-fixes?q=router%20power');
  assert.is(found.body.fixes.length, 1);
  assert.is((await viewer.get<KnownFixesAnswer>('/api/known-fixes?q=toner')).body.fixes.length, 0);
  const edit = await operator.post('/api/known-fixes', {
    profile: null,
    failureMode: 'offline',
    cause: 'cable-or-power',
    title: 'Check the router power',
    text: { en: 'Secure the router power supply.', zh: '检查路由器电源' },
  });
  assert.is(edit.status, 200, edit.text);
  assert.is((await operator.post('/api/known-fixes', { profile: null, failureMode: 'offline', cause: 'x', title: 't', text: {} })).status, 400);
  const after = (await viewer.get<KnownFixesAnswer>('/api/known-fixes')).body.fixes[0];
  assert.equal([after.title, after.text.zh, after.edited, after.resolutions], ['Check the router power', '检查路由器电源', true, 1]);
});

test('team performance report: per team and technician, JSON and CSV; a bad period is a 400', async () => {
  const viewer = await ApiClient.login(s.url, 'viewer');
  // pos-3's ticket (opened in the test before) is dispatched by the server's pass.
  await waitFor(
    'pos-3 dispatched',
    async () => (await viewer.get<TicketsAnswer>('/api/tickets?device=pos-3')).body.items[0]?.assignment?.technician === 'lina',
  );
  const r = await viewer.get<TeamPerformanceReport>('/api/reports/team-performance');
  assert.is(r.status, 200, r.text);
  const lina = r.body.rows.find((x) => x.technician === 'lina')!;
  assert.equal(
    [lina.scope, lina.team, lina.handled, lina.resolved, lina.responded, lina.responseWithSla, lina.responseMet],
    ['technician', 'riyadh', 2, 1, 1, 1, 1],
  );
  assert.ok(r.body.unassigned >= 1);
  const csv = await viewer.get('/api/reports/team-performance?format=csv');
  assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
  const rows = parseCsvRows(csv.text);
  if (!Array.isArray(rows)) throw new Error(rows.message);
  assert.equal(rows[0].cells.slice(0, 5), ['scope', 'team', 'technician', 'name', 'handled']);
  assert.ok(rows.some((x) => x.cells[2] === 'lina' && x.cells[4] === '2'));
  assert.is((await viewer.get('/api/reports/team-performance?from=yesterday')).status, 400);
  const cliReport = await runCli(['dispatch', 'report', '--config', config, '--json']);
  assert.is(cliReport.code, 0, cliReport.stderr);
  assert.ok((JSON.parse(cliReport.stdout) as TeamPerformanceReport).rows.some((x) => x.technician === 'lina'));
});

test.run();
