// `fleetcare user …` as an operator runs it, then the NOC accepts those logins and tokens.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { ApiClient, startNocServer } from '../helpers/noc.js';

import { runCli } from '../helpers/cli.js';

const run = (args: string[], input?: string) => runCli(args, { input });

test('users added by the CLI log in to the NOC with their role; tokens work as Bearer', async () => {
  const dir = tempDir();
  try {
    const pwFile = join(dir.path, 'pw');
    writeFileSync(pwFile, 'night-shift-2026\n');
    const add = await run(['user', 'add', 'noor', '--role', 'operator', '--password-file', pwFile, '--data-dir', dir.path]);
    assert.is(add.code, 0, add.stderr);
    const stdin = await run(['user', 'add', 'li', '--role', 'viewer', '--data-dir', dir.path], 'from-stdin-pass\n');
    assert.is(stdin.code, 0, stdin.stderr);
    const dup = await run(['user', 'add', 'noor', '--password-file', pwFile, '--data-dir', dir.path]);
    assert.is(dup.code, 1);
    assert.match(dup.stderr, 'user noor already exists');
    const short = await run(['user', 'add', 'x', '--data-dir', dir.path], 'short\n');
    assert.is(short.code, 1);
    assert.match(short.stderr, 'password: at least 10 characters');
    const role = await run(['user', 'add', 'y', '--role', 'root', '--data-dir', dir.path], 'long-enough-1\n');
    assert.is(role.code, 64);
    assert.match(role.stderr, '--role: one of viewer, operator, admin');
    const list = await run(['user', 'list', '--data-dir', dir.path]);
    assert.match(list.stdout, /^USER\s+ROLE\s+CREATED\n/);
    assert.match(list.stdout, /^li\s+viewer\s+20\d\d-/m);
    assert.match(list.stdout, /^noor\s+operator\s+20\d\d-/m);
    assert.equal((JSON.parse((await run(['user', 'list', '--json', '--data-dir', dir.path])).stdout) as Array<{ name: string }>).map((u) => u.name).sort(), [
      'li',
      'noor',
    ]);
    const token = await run(['user', 'token', 'li', '--data-dir', dir.path]);
    assert.is(token.code, 0, token.stderr);

    const s = await startNocServer({ dataDir: dir.path });
    try {
      const noor = new ApiClient(s.url);
      const r = await noor.post<{ user: { role: string } }>('/api/login', { username: 'noor', password: 'night-shift-2026' });
      assert.is(r.status, 200);
      assert.is(r.body.user.role, 'operator');
      const li = new ApiClient(s.url);
      assert.is((await li.post('/api/login', { username: 'li', password: 'from-stdin-pass' })).status, 200);
      const script = new ApiClient(s.url);
      script.bearer = token.stdout.trim();
      assert.is(((await script.get<{ user: { name: string } }>('/api/me')).body as { user: { name: string } }).user.name, 'li');
      // A password change from the CLI ends the running session.
      assert.is((await run(['user', 'passwd', 'noor', '--data-dir', dir.path], 'another-pass-77\n')).code, 0);
      assert.is((await noor.get('/api/me')).status, 401);
      assert.is((await run(['user', 'remove', 'li', '--data-dir', dir.path])).code, 0);
      assert.is((await script.get('/api/me')).status, 401);
    } finally {
      await s.close();
    }
  } finally {
    dir.remove();
  }
});

test.run();
