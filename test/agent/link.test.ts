// The agent end to end against a real aedes broker and mqtt.js as the collector: birth/LWT,
// inventory, telemetry in seq order re-sent until acked, exact ack deletion, broker restart.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { decodeDeviceMessage } from '../../protocol/index.js';
import { startAgent } from '../../agent/index.js';
import { nextNode, reconnectDelay } from '../../agent/link.js';
import { waitFor, sleep } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { FakeCollector, agentConfig, agentRig } from './support.js';
import { TestBroker } from '../helpers/broker.js';
import { captureLog } from '../helpers/log.js';
import { using } from '../helpers/rig.js';

test('birth: retained online status, retained inventory, then LWT with reason when the socket dies', () =>
  using(agentRig(), async ({ broker, collector, agent }) => {
    const online = await waitFor('online status', () => collector.on('status').find((r) => r.msg.state === 'online'));
    assert.ok(decodeDeviceMessage(online.topic, JSON.stringify(online.msg)).ok, 'status passes the contract');
    const inv = await waitFor('inventory', () => collector.on('inventory')[0]);
    assert.ok(decodeDeviceMessage(inv.topic, JSON.stringify(inv.msg)).ok, 'inventory passes the contract');
    assert.equal(
      inv.msg.peripherals.map((p: any) => p.id),
      ['host'],
    );
    assert.is(inv.msg.peripherals[0].kind, 'host');

    // Retained: a late subscriber still sees both.
    const late = await FakeCollector.connect(broker.url, { autoAck: false });
    await waitFor(
      'retained status and inventory',
      () => late.on('status').some((r) => r.retain && r.msg.state === 'online') && late.on('inventory').some((r) => r.retain),
    );
    await late.close();

    agent.simulateConnectionLoss();
    const lwt = await waitFor('LWT offline status', () => collector.on('status').find((r) => r.msg.state === 'offline'));
    assert.is(lwt.msg.reason, 'lwt');
    assert.ok(lwt.msg.seq > online.msg.seq, 'will seq is above the birth seq of its session');
    assert.ok(decodeDeviceMessage(lwt.topic, JSON.stringify(lwt.msg)).ok);
    // It reconnects by itself and announces itself again with a higher seq.
    const again = await waitFor('second birth', () => collector.on('status').filter((r) => r.msg.state === 'online')[1]);
    assert.ok(again.msg.seq > lwt.msg.seq);
  }));

test('graceful stop publishes retained offline status with the reason (no LWT)', () =>
  using(agentRig(), async ({ broker, collector, agent }) => {
    await waitFor('online', () => collector.on('status').find((r) => r.msg.state === 'online'));
    await agent.close('maintenance window');
    const off = await waitFor('offline', () => collector.on('status').find((r) => r.msg.state === 'offline'));
    assert.is(off.msg.reason, 'maintenance window');
    await sleep(300);
    assert.is(collector.on('status').filter((r) => r.msg.reason === 'lwt').length, 0, 'no will after a clean disconnect');
    const late = await FakeCollector.connect(broker.url, { autoAck: false });
    const kept = await waitFor('retained offline', () => late.on('status').find((r) => r.retain));
    assert.is(kept.msg.reason, 'maintenance window');
    await late.close();
  }));

test('telemetry arrives in seq order, is re-sent until acked, and an ack deletes exactly the acked rows', () =>
  using(agentRig({ outbox: { ackTimeoutMs: 600 } }, { autoAck: false }), async ({ dir, collector, agent }) => {
    await waitFor('5 distinct telemetry messages', () => new Set(collector.seqs('telemetry')).size >= 5);
    for (const r of collector.on('telemetry')) assert.ok(decodeDeviceMessage(r.topic, JSON.stringify(r.msg)).ok, 'telemetry passes the contract');
    // First sends (a seq's first appearance) come in seq order; re-sends come later.
    const firsts = [...new Set(collector.seqs('telemetry'))];
    assert.equal(
      firsts,
      [...firsts].sort((a, b) => a - b),
      'first sends in seq order',
    );
    const s = firsts.slice(0, 5);
    // Not acked: it comes again after the ack timeout.
    await waitFor('a re-send of an unacked message', () => collector.seqs('telemetry').filter((x) => x === s[1]).length >= 2, 5000);

    // Ack two specific seqs: exactly those rows go, the others stay.
    const acked = [s[0], s[2]];
    collector.ack('pos-001', acked);
    await waitFor('ack applied', () => agent.stats().outbox.acked >= 2);
    const db = new Database(join(dir.path, 'outbox.db'), { readonly: true });
    const left = (db.prepare('SELECT seq FROM outbox').all() as Array<{ seq: number }>).map((r) => r.seq);
    db.close();
    for (const x of acked) assert.not.ok(left.includes(x), `acked ${x} deleted`);
    for (const x of [s[1], s[3], s[4]]) assert.ok(left.includes(x), `unacked ${x} kept`);
    assert.is(agent.stats().outbox.acked, 2, 'exactly two rows deleted');
    const first = s.map((seq) => ({ msg: { seq } }));

    // Re-sends stop for acked rows; unacked keep coming.
    const count = (s: number) => collector.seqs('telemetry').filter((x) => x === s).length;
    const a0 = count(acked[0]);
    const u0 = count(first[3].msg.seq);
    await waitFor('another re-send of the unacked', () => count(first[3].msg.seq) > u0, 5000);
    assert.is(count(acked[0]), a0, 'an acked row is not sent again');

    // A bad ack is ignored and counted, nothing crashes.
    collector.sendRaw('fleet/v1/pos-001/ack', '{"v":1,"ranges":[[5,2]],"ts":1}');
    collector.sendRaw('fleet/v1/pos-001/ack', 'not json');
    await waitFor('bad acks counted', () => agent.stats().link.badAcks >= 2);

    // Ack everything received: the outbox drains.
    collector.autoAck = true;
    collector.ack('pos-001', [...new Set(collector.seqs('telemetry').concat(collector.seqs('event')))]);
    await waitFor('outbox drained to the few newest', () => agent.outboxCounts().rows <= 3, 5000);
    assert.ok(agent.stats().clockOffsetMs !== null, 'clock offset known after an ack');
  }));

test('broker restart mid-stream: every journaled seq reaches the collector', () =>
  using(
    agentRig({ outbox: { journal: true, ackTimeoutMs: 800 }, peripherals: [{ driver: 'host', intervalMs: 50 }], telemetry: { publishIntervalMs: 100 } }),
    async ({ broker, dir, collector, agent }) => {
      await waitFor('some telemetry', () => collector.on('telemetry').length >= 5);
      await broker.stop();
      await sleep(700); // the agent keeps writing to its outbox meanwhile
      await broker.start();
      await waitFor('reconnected', () => agent.stats().link.connects >= 2, 10_000);
      await sleep(600);
      await agent.close('test over');
      const db = new Database(join(dir.path, 'outbox.db'), { readonly: true });
      const journal = (db.prepare('SELECT seq FROM outbox_journal').all() as Array<{ seq: number }>).map((r) => r.seq);
      const leftover = (db.prepare('SELECT seq FROM outbox').all() as Array<{ seq: number }>).map((r) => r.seq);
      db.close();
      const got = new Set([...collector.seqs('telemetry'), ...collector.seqs('event')]);
      const missing = journal.filter((s) => !got.has(s) && !leftover.includes(s));
      assert.equal(missing, [], 'nothing lost: every seq arrived or is still in the outbox');
      // Whatever is still in the outbox was never acked (it goes out on the next start).
      assert.ok(leftover.length < journal.length / 2, 'most of it was acked and deleted');
      assert.ok(journal.length > 10);
    },
  ));

test('reconnect delays: exponential, capped, jittered within [base*(1-j), base]', () => {
  const p = { minMs: 1000, maxMs: 60_000, jitter: 0.5 };
  assert.equal(
    [0, 1, 2, 3, 6, 7, 20].map((a) => reconnectDelay(a, p, () => 0)),
    [1000, 2000, 4000, 8000, 60_000, 60_000, 60_000],
  );
  assert.equal(
    [0, 1, 2].map((a) => reconnectDelay(a, p, () => 0.999999)),
    [500, 1000, 2000],
  );
  // 40 devices of one store after a broker restart: their first delays are spread, not equal.
  let x = 42;
  const lcg = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const delays = Array.from({ length: 40 }, () => reconnectDelay(0, p, lcg));
  assert.ok(delays.every((d) => d >= 500 && d <= 1000));
  assert.ok(new Set(delays).size > 30, 'spread');
  assert.is(reconnectDelay(3, { ...p, jitter: 0 }, Math.random), 8000, 'no jitter: exact');
});

test("after losing a node the agent tries another one at random, never the lost one: a dead node's agents spread over the survivors", () => {
  // Three nodes: from node 2 the draw picks 0 or 1 evenly.
  assert.is(
    nextNode(2, 3, () => 0),
    0,
  );
  assert.is(
    nextNode(2, 3, () => 0.49),
    0,
  );
  assert.is(
    nextNode(2, 3, () => 0.5),
    1,
  );
  assert.is(
    nextNode(2, 3, () => 0.999999),
    1,
  );
  for (let from = 0; from < 5; from++) {
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(nextNode(from, 5, Math.random));
    assert.not.ok(seen.has(from), `never node ${from} again`);
    assert.is(seen.size, 4, `every other node of 5 is reached from ${from}`);
  }
  // Two nodes: the other one, without a draw; one node: itself.
  assert.is(
    nextNode(0, 2, () => {
      throw new Error('no draw');
    }),
    1,
  );
  assert.is(nextNode(0, 1), 0);
});

test('the agent drives its own reconnects with those delays against a broker that is down', async () => {
  const broker = await TestBroker.create();
  await broker.stop();
  const dir = tempDir();
  const cap = captureLog();
  const rnd = [0.25, 0.5, 0.75, 0, 1];
  let i = 0;
  const agent = await startAgent(
    agentConfig({ dataDir: dir.path, brokerUrl: broker.url, broker: { url: broker.url, reconnect: { minMs: 50, maxMs: 300, jitter: 0.5 } } } as any),
    {
      log: cap.log,
      random: () => rnd[i++ % rnd.length],
    },
  );
  try {
    await waitFor('5 reconnect delays', () => agent.stats().link.recentReconnectDelaysMs.length >= 5);
    assert.equal(agent.stats().link.recentReconnectDelaysMs.slice(0, 5), [44, 75, 125, 300, 150]);
    // Quiet under trouble: the same refusal at every retry is logged once, not once per retry.
    assert.is(cap.lines.filter((l) => l.msg === 'MQTT error').length, 1, 'one MQTT error line for five refused retries');
    assert.is(cap.lines.filter((l) => l.msg === 'reconnecting').length, 1);
    await broker.start();
    await waitFor('connected after the broker came up', () => agent.stats().link.connected, 5000);
    assert.ok(cap.lines.some((l) => l.msg === 'reconnecting' && typeof l.delayMs === 'number'));
    assert.not.ok(cap.text().includes('secret-token'), 'the token is never logged');
  } finally {
    await agent.close();
    await broker.stop();
    dir.remove();
  }
});

test.run();
