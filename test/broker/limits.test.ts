// Bad input at the broker: oversized payloads, publish floods, password guessing — each refused
// with a specific log line and a counter, with the real mosquitto clients.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { LoginThrottle, PublishRateLimit } from '../../broker/limits.js';
import { waitFor } from '../helpers/net.js';
import { barrier, connectMqtt, creds, killStrays, mosquitto, recorder } from './helpers.js';
import { hasLog } from '../helpers/log.js';
import { startFleetcareBroker } from '../helpers/broker.js';
import { using } from '../helpers/rig.js';

test.after(() => killStrays());

test('oversized payloads disconnect the client, are counted and never forwarded', () =>
  using(startFleetcareBroker(), async (tb) => {
    // default limit: 256 KiB
    const rec = await recorder(tb.broker.port, tb.tokens.collector, ['fleet/v1/+/telemetry', 'fleet/v1/+/event']);
    const dev = creds(tb.broker.port, 'dev-a', tb.tokens['dev-a']);
    // Just over the limit: refused when the PUBLISH is authorized.
    const justOver = await mosquitto('pub', [...dev, '-t', 'fleet/v1/dev-a/telemetry', '-q', '1', '-s'], { input: Buffer.alloc(256 * 1024 + 1, 0x61) });
    assert.is.not(justOver.code, 0);
    assert.ok(hasLog(tb.logs, 'oversized payload: disconnecting', { client: 'dev-a', bytes: 256 * 1024 + 1 }));
    // Far over: refused from the packet header, before the body is buffered.
    const huge = await mosquitto('pub', [...dev, '-t', 'fleet/v1/dev-a/telemetry', '-q', '1', '-s'], { input: Buffer.alloc(4 * 1024 * 1024, 0x62) });
    assert.is.not(huge.code, 0);
    assert.ok(hasLog(tb.logs, 'oversized packet: disconnecting before buffering it', { client: 'dev-a' }));
    // Exactly at the limit is fine.
    const atLimit = await mosquitto('pub', [...dev, '-t', 'fleet/v1/dev-a/telemetry', '-q', '1', '-s'], { input: Buffer.alloc(256 * 1024, 0x63) });
    assert.is(atLimit.code, 0, atLimit.stderr);
    await barrier(tb.broker.port, tb.tokens['dev-a'], rec);
    const sizes = rec.got.filter((m) => m.topic === 'fleet/v1/dev-a/telemetry').map((m) => m.payload.length);
    assert.equal(sizes, [256 * 1024]);
    assert.is(tb.broker.stats().oversized, 2);
    // Both kept as dead letters: the one refused at PUBLISH with its topic and payload head.
    const letters = tb.broker.oversized();
    assert.is(letters.length, 2);
    assert.is(letters[0].bytes > 4 * 1024 * 1024 - 1, true, 'newest first: the huge one, refused from its header');
    assert.is(letters[0].head, undefined);
    assert.is(letters[1].topic, 'fleet/v1/dev-a/telemetry');
    assert.is(letters[1].client, 'dev-a');
    assert.is(letters[1].bytes, 256 * 1024 + 1);
    assert.is(letters[1].head, 'a'.repeat(512));
    await rec.client.endAsync();
  }));

test('publish rate limit: excess messages are dropped and counted; a client that keeps flooding is disconnected', () =>
  using(startFleetcareBroker({ publishRate: { perSecond: 1, burst: 5, disconnectAfterDrops: 40, windowMs: 60_000 } }), async (tb) => {
    const rec = await recorder(tb.broker.port, tb.tokens.collector, ['fleet/v1/+/telemetry', 'fleet/v1/+/event']);
    const lines = Array.from({ length: 20 }, (_, i) => `m${i}`).join('\n') + '\n';
    const r = await mosquitto('pub', [...creds(tb.broker.port, 'dev-a', tb.tokens['dev-a']), '-t', 'fleet/v1/dev-a/telemetry', '-q', '1', '-l'], {
      input: lines,
    });
    assert.is(r.code, 0, r.stderr); // dropped messages are still PUBACKed: the client stays connected
    await barrier(tb.broker.port, tb.tokens['dev-b'], rec, 'dev-b'); // dev-b has its own bucket
    const got = rec.got.filter((m) => m.topic === 'fleet/v1/dev-a/telemetry').length;
    const s = tb.broker.stats();
    assert.ok(got >= 5 && got < 20, `received ${got}`);
    assert.is(s.rateLimited, 20 - got);
    assert.is(s.rateLimitDisconnects, 0);
    assert.ok(hasLog(tb.logs, 'publish rate limit reached: dropping', { client: 'dev-a' }));

    // 200 more in a burst: after 40 drops within the window the client is disconnected.
    const flood = Array.from({ length: 200 }, (_, i) => `f${i}`).join('\n') + '\n';
    const f = await mosquitto('pub', [...creds(tb.broker.port, 'dev-a', tb.tokens['dev-a']), '-t', 'fleet/v1/dev-a/telemetry', '-q', '1', '-l'], {
      input: flood,
      timeoutMs: 15_000,
    });
    void f; // mosquitto_pub may retry or give up; what matters is the broker's side
    await waitFor('flooding disconnect', () => tb.broker.stats().rateLimitDisconnects >= 1);
    assert.ok(hasLog(tb.logs, 'client keeps flooding: disconnecting', { client: 'dev-a' }));
    await rec.client.endAsync();
  }));

test('the publish rate limit is per device: the collector acking the whole fleet is never dropped or disconnected', () =>
  using(startFleetcareBroker({ publishRate: { perSecond: 1, burst: 5, disconnectAfterDrops: 10, windowMs: 60_000 } }), async (tb) => {
    // The acks of 50 devices at once, as the collector sends them, to dev-a's ack topic here.
    const dev = await connectMqtt(`mqtt://127.0.0.1:${tb.broker.port}`, { clientId: 'dev-a', username: 'dev-a', password: tb.tokens['dev-a'] });
    const got: string[] = [];
    dev.on('message', (_t, payload) => got.push(payload.toString()));
    await dev.subscribeAsync('fleet/v1/dev-a/ack', { qos: 1 });
    const acks = Array.from({ length: 50 }, (_, i) => JSON.stringify({ v: 1, ranges: [[i + 1, i + 1]] })).join('\n') + '\n';
    const r = await mosquitto('pub', [...creds(tb.broker.port, 'collector', tb.tokens.collector), '-t', 'fleet/v1/dev-a/ack', '-q', '1', '-l'], {
      input: acks,
    });
    assert.is(r.code, 0, r.stderr);
    await waitFor('all 50 acks routed to the device', () => got.length === 50);
    const s = tb.broker.stats();
    assert.is(s.rateLimited, 0);
    assert.is(s.rateLimitDisconnects, 0);
    assert.not.ok(hasLog(tb.logs, 'publish rate limit reached: dropping', { client: 'collector' }));
    await dev.endAsync();
  }));

test('failed logins are throttled per client and per address', async () => {
  const rule = { baseDelayMs: 60_000, maxDelayMs: 60_000, forgetAfterMs: 600_000 };
  await using(startFleetcareBroker({ loginThrottle: { perClient: { freeAttempts: 2, ...rule }, perAddress: { freeAttempts: 5, ...rule } } }), async (tb) => {
    const port = tb.broker.port;
    const pub = (user: string, token: string) => mosquitto('pub', [...creds(port, user, token), '-t', `fleet/v1/${user}/event`, '-q', '1', '-m', 'x']);
    for (let i = 0; i < 3; i++) assert.is.not((await pub('dev-a', 'guess-' + i)).code, 0);
    // dev-a is now locked out: even its real token is refused, without being checked.
    const locked = await pub('dev-a', tb.tokens['dev-a']);
    assert.is.not(locked.code, 0);
    assert.match(locked.stderr, /not authori[sz]ed/i);
    assert.is(tb.broker.stats().loginsThrottled, 1);
    assert.is(tb.broker.stats().authFailures, 3);
    assert.ok(hasLog(tb.logs, 'login refused: throttled after failed logins', { client: 'dev-a' }));
    // Another device from the same address still gets in (3 address failures of 5 allowed).
    assert.is((await pub('dev-b', tb.tokens['dev-b'])).code, 0);
    // Three more failures from this address, under other names, lock the address.
    for (let i = 0; i < 3; i++) assert.is.not((await pub(`ghost-${i}`, 'guess')).code, 0);
    const byAddress = await pub('dev-b', tb.tokens['dev-b']);
    assert.is.not(byAddress.code, 0);
    assert.is(tb.broker.stats().loginsThrottled, 2);
  });
});

test('login throttle: exponential lockout, capped, forgotten after a quiet period', () => {
  let now = 1_000_000;
  const t = new LoginThrottle({ freeAttempts: 2, baseDelayMs: 1000, maxDelayMs: 5000, forgetAfterMs: 60_000 }, 3, () => now);
  t.fail('k');
  t.fail('k');
  assert.is(t.lockedFor('k'), 0);
  t.fail('k');
  assert.is(t.lockedFor('k'), 1000);
  t.fail('k');
  assert.is(t.lockedFor('k'), 2000);
  t.fail('k');
  t.fail('k');
  assert.is(t.lockedFor('k'), 5000); // 8000 capped
  now += 5000;
  assert.is(t.lockedFor('k'), 0);
  now += 60_001;
  t.fail('k'); // forgotten: this is a first failure again
  assert.is(t.lockedFor('k'), 0);
  t.succeed('k');
  for (const k of ['a', 'b', 'c', 'd']) t.fail(k);
  assert.is(t.size, 3); // bounded: the oldest key was evicted
});

test('publish rate limit: burst, then the sustained rate, then a flooding verdict', () => {
  let now = 0;
  const limit = new PublishRateLimit({ perSecond: 10, burst: 3, disconnectAfterDrops: 3, windowMs: 1000 }, () => now);
  const s = limit.newState();
  assert.equal([limit.check(s), limit.check(s), limit.check(s), limit.check(s)], ['ok', 'ok', 'ok', 'drop']);
  now += 100;
  assert.equal([limit.check(s), limit.check(s), limit.check(s)], ['ok', 'drop', 'disconnect']);
  now += 2000; // a new window, a refilled bucket
  assert.equal([limit.check(s), limit.check(s), limit.check(s), limit.check(s)], ['ok', 'ok', 'ok', 'drop']);
});

test('an unauthenticated socket sending garbage does not disturb the broker', () =>
  using(startFleetcareBroker(), async (tb) => {
    const { connect } = await import('node:net');
    const s = connect(tb.broker.port, '127.0.0.1');
    s.on('error', () => {});
    await new Promise((r) => s.once('connect', r));
    s.write(randomBytes(4096));
    await new Promise((r) => s.once('close', r));
    const ok = await mosquitto('pub', [...creds(tb.broker.port, 'dev-a', tb.tokens['dev-a']), '-t', 'fleet/v1/dev-a/event', '-q', '1', '-m', 'after-garbage']);
    assert.is(ok.code, 0, ok.stderr);
  }));

test.run();
