// A real full disk (a small tmpfs, root only): the outbox never hands out a seq beyond its last
// durably reserved block, a kill -9 while the disk is full reuses no seq and its memory-only
// rows are reported at the next start, the "cannot write" logs stay quiet, and the agent
// recovers when space returns, losing nothing it had on disk.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Outbox } from '../../agent/outbox.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { mountTmpfs, tmpfsUnavailable } from '../helpers/tmpfs.js';
import { FakeCollector } from './support.js';
import { TestBroker } from '../helpers/broker.js';
import { captureLog } from '../helpers/log.js';

const skip = tmpfsUnavailable();

const tel = (seq: number) => JSON.stringify({ seq, kind: 'telemetry', pad: 'x'.repeat(300) });

if (skip) {
  test.skip(`full-disk tests: ${skip}`, () => {});
} else {
  test('sidecar lost and disk full: no seq beyond the durable reservation; held messages get seqs when space returns', () => {
    const fs = mountTmpfs(1024);
    const path = join(fs.path, 'outbox.db');
    const cap = captureLog();
    const open = () =>
      new Outbox({
        path,
        maxRows: 100_000,
        maxBytes: 50 << 20,
        thinKeepEvery: 4,
        ackTimeoutMs: 1000,
        maxInFlight: 200,
        journal: false,
        log: cap.log,
        buildEvent: (seq, ts, f) => JSON.stringify({ seq, ts, type: 'outbox-dropped', ...f }),
        memoryMaxRows: 5000,
      });
    let o = open();
    try {
      const handed: number[] = [o.append('telemetry', 1, tel)];
      // The sidecar is gone (say, removed by hand) and then the disk fills up.
      rmSync(`${path}.seq`);
      fs.fill();
      for (let i = 0; i < 3000; i++) {
        const seq = o.append('telemetry', 1, tel);
        if (seq > 0) handed.push(seq);
        if (i % 10 === 0) handed.push(o.allocateSeq());
      }
      const s = o.stats();
      assert.is(s.mode, 'disk-full');
      assert.ok(s.heldRows > 0, `messages held without a seq (${s.heldRows})`);
      assert.ok(Math.max(...handed) <= s.reservedUpTo, `handed out ${Math.max(...handed)} > reserved ${s.reservedUpTo}`);
      // Quiet: the sidecar error is logged once (rate-limited), not once per append.
      const sidecarLines = cap.lines.filter((l) => /cannot write the seq sidecar/.test(l.msg));
      assert.ok(sidecarLines.length >= 1 && sidecarLines.length <= 2, `sidecar lines: ${sidecarLines.length}`);
      assert.is(cap.lines.filter((l) => /cannot write to disk/.test(l.msg)).length, 1);
      o.close();
      // Restart on the still-full disk: seqs continue above everything handed out.
      o = open();
      const next = o.append('telemetry', 1, tel) || o.allocateSeq();
      assert.ok(next > Math.max(...handed.filter((x) => x > 0)) || o.stats().heldRows > 0, 'no seq reused after the restart');
      // With the sidecar gone there was nowhere to keep the account of memory-only rows; the
      // close said how many went (the agent-level test covers the accounting).
      assert.ok(cap.lines.some((l) => /closing with messages that only lived in memory/.test(l.msg) && Number(l.lost) > 0));
      // Space returns: held messages get fresh seqs, everything is on disk, the sidecar is back.
      fs.free();
      assert.ok(o.tryRecover(), 'recovered');
      assert.is(o.stats().heldRows, 0);
      const pending = o.pending();
      const seqs = pending.map((r) => r.seq);
      assert.equal(
        seqs,
        [...new Set(seqs)].sort((a, b) => a - b),
      );
      for (const r of pending) assert.is(JSON.parse(r.payload).seq, r.seq, 'payload carries its own seq');
      assert.ok(
        pending.map((r) => JSON.parse(r.payload)).some((p) => p.code === 'outbox-seq-held' && p.data.held > 0),
        'an outbox-seq-held event says messages waited for a seq',
      );
      assert.ok(existsSync(`${path}.seq`));
      assert.ok(
        cap.lines.some((l) => /sidecar file writable again/.test(l.msg)),
        'one line when writing works again',
      );
    } finally {
      o.close();
      fs.unmount();
    }
  });

  test('agent kill -9 while the disk is full: no seq reused, memory-only rows reported at restart, recovery when space returns', async () => {
    const fs = mountTmpfs(2048);
    const cfgDir = tempDir();
    const broker = await TestBroker.create();
    const collector = await FakeCollector.connect(broker.url);
    const main = fileURLToPath(new URL('../../agent/main.js', import.meta.url));
    const cfg = join(cfgDir.path, 'agent.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        device: { id: 'pos-full', token: 'secret-token' },
        dataDir: fs.path,
        broker: { url: broker.url, reconnect: { minMs: 100, maxMs: 500, jitter: 0.5 } },
        // Many small messages, so that a seq block (1000) is used up while the disk is full.
        telemetry: { publishIntervalMs: 10, maxSamplesPerMessage: 1 },
        // The journal records every seq that reached the disk: all of them must arrive.
        outbox: { ackTimeoutMs: 500, journal: true },
        discovery: false,
        peripherals: [{ driver: 'host', intervalMs: 5 }],
      }),
    );
    let child: ChildProcess | null = null;
    let out = '';
    const start = () => {
      out = '';
      child = spawn(process.execPath, [main, '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (b) => (out += b));
      child.stderr!.on('data', (b) => (out += b));
    };
    const lines = () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: number; msg: string });
    /** seq → every distinct payload seen with it (more than one = a reused seq). */
    const bySeq = new Map<number, Set<string>>();
    const record = () => {
      for (const r of collector.received) {
        if (r.device !== 'pos-full' || (r.channel !== 'telemetry' && r.channel !== 'event')) continue;
        const set = bySeq.get(r.msg.seq) ?? new Set<string>();
        set.add(JSON.stringify(r.msg));
        bySeq.set(r.msg.seq, set);
      }
    };
    try {
      start();
      await waitFor('telemetry acked', () => collector.on('telemetry', 'pos-full').length >= 5, 15_000);
      // No acks: rows pile up on disk until the disk is full.
      collector.autoAck = false;
      fs.fill();
      await waitFor('outbox in disk-full mode', () => lines().some((l) => /outbox cannot write to disk/.test(l.msg)), 30_000);
      // Delivering from memory while full, as in the report: everything is acked again.
      collector.autoAck = true;
      collector.ack('pos-full', [...new Set(collector.seqs('telemetry').concat(collector.seqs('event')))]);
      const maxSeq = () => Math.max(0, ...collector.received.filter((r) => r.channel === 'telemetry').map((r) => r.msg.seq as number));
      const atFull = maxSeq();
      // More than a whole seq block delivered while full: the old code handed these seqs out
      // without a durable reservation and repeated them after the kill.
      await waitFor('a seq block used up while full', () => maxSeq() > atFull + 1100, 40_000);
      // Then acks stop once more, so rows that live only in memory are unacked at the kill.
      collector.autoAck = false;
      const beforeKill = collector.received.length;
      await waitFor('unacked memory rows sent', () => collector.received.length >= beforeKill + 5, 15_000);
      const firstRun = lines();
      child!.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
      record();
      const maxBefore = Math.max(...bySeq.keys());
      collector.received.length = 0;

      // Restart on the still-full disk.
      collector.autoAck = true;
      start();
      const lostEv = await waitFor(
        'outbox-memory-lost event',
        () => collector.on('event', 'pos-full').find((r) => r.msg.code === 'outbox-memory-lost'),
        20_000,
      ).catch((e) => {
        console.log(out.slice(-5000));
        throw e;
      });
      assert.ok(lostEv.msg.data.droppedMessages > 0, 'memory-only rows unacked at the kill are counted');
      await waitFor('new telemetry after the restart', () => collector.on('telemetry', 'pos-full').filter((r) => r.msg.seq > maxBefore).length >= 10, 15_000);

      // Space returns: the outbox moves to disk again and goes on.
      fs.free();
      await waitFor('outbox writes to disk again', () => lines().some((l) => /can write to disk again/.test(l.msg)), 20_000);
      const after = collector.received.length;
      await waitFor('telemetry after recovery', () => collector.received.length >= after + 5, 15_000);
      // Losing nothing that reached the disk: every journaled seq not thinned arrives.
      const journaled = () => {
        const db = new Database(join(fs.path, 'outbox.db'), { readonly: true, fileMustExist: true });
        try {
          return (db.prepare('SELECT seq FROM outbox_journal WHERE seq NOT IN (SELECT seq FROM outbox_journal_dropped)').all() as Array<{ seq: number }>).map(
            (r) => r.seq,
          );
        } finally {
          db.close();
        }
      };
      await waitFor(
        'every journaled seq delivered',
        () => {
          record();
          const missing = journaled().filter((seq) => !bySeq.has(seq));
          return missing.length === 0 ? true : null;
        },
        20_000,
      );
      record();
      const reused = [...bySeq].filter(([, payloads]) => payloads.size > 1).map(([seq]) => seq);
      assert.equal(reused, [], 'no seq was used for two different messages');
      // Quiet: "cannot write" warnings are rate-limited, not one per publish.
      for (const run of [firstRun, lines()]) {
        const noisy = run.filter((l) => l.level >= 40 && /cannot write|write failed/.test(l.msg));
        assert.ok(noisy.length <= 4, `warnings per run: ${noisy.length}: ${noisy.map((l) => l.msg).join(' | ')}`);
      }
    } finally {
      const c = child as ChildProcess | null;
      if (c && c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await new Promise((r) => c.once('exit', r));
      }
      await collector.close();
      await broker.stop();
      cfgDir.remove();
      fs.unmount();
    }
  });
}

test.run();
