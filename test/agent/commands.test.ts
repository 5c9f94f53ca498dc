// Remote commands over the real broker: ping, self-test (calls the driver), read-counters,
// inventory; expired, malformed, unknown peripheral and a failing driver all get an error result.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeDeviceMessage } from '../../protocol/index.js';
import { waitFor } from '../helpers/net.js';
import { ControlledDriver } from './fakes.js';
import { agentRig } from './support.js';
import { using } from '../helpers/rig.js';

test('commands: answers, errors, expiry, malformed input; nothing crashes', async () => {
  const printer = new ControlledDriver('printer0');
  await using(agentRig({}, { extraPeripherals: [{ driver: printer, intervalMs: 50, timeoutMs: 200 }] }), async ({ collector, agent }) => {
    const req = (o: object) => collector.sendRaw('fleet/v1/pos-001/cmd/req', JSON.stringify({ v: 1, expires: Date.now() + 60_000, ...o }));
    const result = (id: string) => waitFor(`result ${id}`, () => collector.on('cmd/res').find((r) => r.msg.id === id), 5000);
    await waitFor('connected', () => agent.stats().link.connected);
    await waitFor('printer polled', () => printer.polls > 1);

    req({ id: 'c1', name: 'ping' });
    const ping = await result('c1');
    assert.ok(decodeDeviceMessage(ping.topic, JSON.stringify(ping.msg)).ok, 'cmd/res passes the contract');
    assert.is(ping.msg.ok, true);
    assert.is(ping.msg.result.pong, true);

    req({ id: 'c2', name: 'self-test', peripheral: 'printer0' });
    const st = await result('c2');
    assert.is(st.msg.ok, true);
    assert.is(st.msg.result.headOk, true);

    req({ id: 'c2h', name: 'self-test', peripheral: 'host' });
    const sth = await result('c2h');
    assert.is(sth.msg.ok, true);
    assert.type(sth.msg.result.diskFreeBytes, 'number');

    req({ id: 'c3', name: 'read-counters', peripheral: 'printer0' });
    const rc = await result('c3');
    assert.ok(rc.msg.result.printer0.counters.cuts > 10);

    const invBefore = collector.on('inventory').length;
    req({ id: 'c4', name: 'inventory' });
    const inv = await result('c4');
    assert.equal(inv.msg.result.peripherals.map((p: any) => p.id).sort(), ['host', 'printer0']);
    await waitFor('inventory republished', () => collector.on('inventory').length > invBefore);

    req({ id: 'c5', name: 'ping', expires: Date.now() - 1000 });
    const exp = await result('c5');
    assert.is(exp.msg.ok, false);
    assert.is(exp.msg.error, 'expired');

    req({ id: 'c6', name: 'reboot-the-world' });
    const unknown = await result('c6');
    assert.is(unknown.msg.ok, false);
    assert.match(unknown.msg.error, /invalid request \(schema\): name:/);

    req({ id: 'c7', name: 'self-test', peripheral: 'printer9' });
    assert.match((await result('c7')).msg.error, 'unknown peripheral printer9');

    req({ id: 'c8', name: 'self-test' });
    assert.match((await result('c8')).msg.error, 'needs a peripheral');

    req({ id: 'c9', name: 'recover', peripheral: 'printer0' });
    assert.match((await result('c9')).msg.error, 'unsupported command recover');

    collector.sendRaw('fleet/v1/pos-001/cmd/req', JSON.stringify({ v: 2, id: 'c10', name: 'ping', expires: Date.now() + 1000 }));
    assert.match((await result('c10')).msg.error, /unknown-version/);

    collector.sendRaw('fleet/v1/pos-001/cmd/req', '{{{ not json');
    collector.sendRaw('fleet/v1/pos-001/cmd/req', Buffer.from([0xff, 0x00, 0x13]));
    await waitFor('unanswerable counted', () => agent.stats().commands.unanswerable >= 2);

    printer.present = false;
    await waitFor('printer absent', () => agent.stats().peripherals.find((p) => p.id === 'printer0')?.state === 'absent');
    req({ id: 'c11', name: 'self-test', peripheral: 'printer0' });
    assert.match((await result('c11')).msg.error, 'printer0 is absent');

    req({ id: 'c12', name: 'ping' });
    assert.is((await result('c12')).msg.ok, true, 'still answering after all that');
    const c = agent.stats().commands;
    assert.ok(c.expired === 1 && c.invalid >= 2 && c.failed >= 4);
  });
});

test.run();
