// The R30x driver against the virtual module over real socat PTY pairs: identity, template store,
// every scripted fault raised and cleared, line trouble (noise, cut-off replies, silence, slow
// replies), and capture rates from simulated use relayed through the agent.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { PtyPair } from '../helpers/pty.js';
import { VirtualFingerprintModule, type VirtualFingerprintOptions } from '../../sim/fingerprint-module.js';
import { createFingerprintSerialDriver, fingerprintSerialConfigSchema, type FingerprintSerialConfigInput } from '../../agent/drivers/fingerprint/index.js';
import { peripheralConfigSchema } from '../../agent/config.js';
import { loadFirmwareProfiles, defaultFirmwareProfilesDir } from '../../firmware-profiles/loader.js';
import { driverRig, using, usingOpened } from '../helpers/rig.js';

const log = pino({ level: 'silent' });
const profiles = loadFirmwareProfiles(defaultFirmwareProfilesDir());
const REPLY_TIMEOUT = 800;
const signal = () => AbortSignal.timeout(10_000);

async function rig(simOpts: VirtualFingerprintOptions = {}, config: Partial<FingerprintSerialConfigInput> = {}, withRelay = false) {
  const pty = await PtyPair.create();
  const pos = withRelay ? await PtyPair.create() : null;
  const module = await VirtualFingerprintModule.start({
    path: pty.devicePath,
    profile: 'grow-r503',
    profiles,
    serial: 'FP001234',
    seed: 7,
    posPath: pos?.devicePath,
    ...simOpts,
  });
  const driver = createFingerprintSerialDriver(
    { id: 'fp0', driver: 'r30x-serial', path: pty.hostPath, replyTimeoutMs: REPLY_TIMEOUT, ...(pos ? { relay: { path: pos.hostPath } } : {}), ...config },
    { log, profiles },
  );
  return { pty, ...driverRig('module', module, driver, pty, pos) };
}

test('config: defaults, part of the agent peripheral union, typos refused with the field', () => {
  const c = fingerprintSerialConfigSchema.parse({ id: 'fp0', driver: 'r30x-serial', path: '/dev/ttyUSB1' });
  assert.equal(
    { baudRate: c.baudRate, address: c.address, password: c.password, rateWindow: c.rateWindow },
    { baudRate: 57600, address: 0xffffffff, password: 0, rateWindow: 100 },
  );
  assert.is(peripheralConfigSchema.parse({ id: 'fp0', driver: 'r30x-serial', path: '/dev/ttyUSB1' }).driver, 'r30x-serial');
  const bad = fingerprintSerialConfigSchema.safeParse({ id: 'fp0', driver: 'r30x-serial', path: '/dev/x', baudRate: 12345 });
  assert.is(bad.success, false);
  if (!bad.success) assert.equal(bad.error.issues[0].path, ['baudRate']);
  assert.is(fingerprintSerialConfigSchema.safeParse({ id: 'fp0', driver: 'r30x-serial', path: '/dev/x', relay: { path: '/dev/y', typo: 1 } }).success, false);
});

test('open identifies the module (ReadProdInfo) and matches grow-r503; poll reads the template store', () =>
  using(rig({ templates: 37 }), async (r) => {
    const id = await r.driver.open(signal());
    assert.equal(id, {
      port: `serial:${r.pty.hostPath}`,
      vendor: 'Hangzhou Grow Technology',
      model: 'R503',
      serial: 'B001-FP001234',
      firmware: 'hw 1.1 sensor FPC1021',
      profile: 'grow-r503',
    });
    assert.equal(r.driver.systemParameters, {
      statusRegister: 0,
      systemId: 0,
      capacity: 200,
      securityLevel: 3,
      address: 0xffffffff,
      packetSize: 128,
      baudRate: 57600,
    });
    const reading = await r.driver.poll(signal());
    assert.is(reading.health, 'ok');
    assert.equal(reading.faults, []);
    assert.is(reading.metrics.templates, 37);
    assert.is(reading.metrics.capacity, 200);
    assert.is(reading.metrics.templatesUsedPct, 18.5);
    assert.is(reading.counters.commErrors, 0);
    assert.is(reading.metrics.imageFailRate, undefined, 'no relay: no capture rates are claimed');
  }));

test('scripted faults appear and clear: sensor failure, store near full and full', () =>
  usingOpened(rig({ templates: 10 }), async (r) => {
    r.module.setSensorFailed(true);
    let x = await r.driver.poll(signal());
    assert.equal(x.faults, ['sensor-fail']);
    assert.is(x.health, 'critical');
    r.module.setSensorFailed(false);
    assert.equal((await r.driver.poll(signal())).faults, []);
    r.module.setTemplates(185);
    x = await r.driver.poll(signal());
    assert.equal(x.faults, ['template-store-near-full']);
    assert.is(x.health, 'warning');
    r.module.fillStore();
    x = await r.driver.poll(signal());
    assert.equal(x.faults, ['template-store-full']);
    assert.is(x.health, 'critical');
    r.module.setTemplates(3);
    assert.equal((await r.driver.poll(signal())).faults, []);
  }));

test('wrong password: the module refuses VfyPwd and the fault is raised, not an absent module', () =>
  usingOpened(rig({ password: 0x1234 }, { password: 0 }), async (r) => {
    const x = await r.driver.poll(signal());
    assert.ok(x.faults.includes('wrong-password'));
    assert.is(x.health, 'critical');
  }));

test('line trouble: noise and a cut-off reply give comm-error once, then recover; silence rejects the poll', () =>
  usingOpened(rig(), async (r) => {
    r.module.setGarbageBeforeReplies(Uint8Array.of(0x13, 0xef, 0x00, 0x55, 0xff));
    let x = await r.driver.poll(signal());
    assert.equal(x.faults, [], 'noise before intact replies is dropped without losing a reply');
    assert.ok(x.counters.garbageBytes > 0);
    r.module.setGarbageBeforeReplies(null);
    r.module.stopMidFrame(1);
    x = await r.driver.poll(signal()).catch((e) => e);
    // The first request's reply was cut: that poll fails (timeout), the next one recovers with comm-error.
    assert.instance(x, Error);
    x = await r.driver.poll(signal());
    assert.ok(x.faults.includes('comm-error'));
    assert.ok(x.counters.timeouts >= 1);
    x = await r.driver.poll(signal());
    assert.equal(x.faults, []);
    r.module.setReplyDelay(150); // slow but within the deadline
    x = await r.driver.poll(signal());
    assert.equal(x.faults, []);
    assert.ok(x.metrics.replyLatencyMs >= 100);
    r.module.setReplyDelay(0);
    r.module.setSilent(true);
    const err = await r.driver.poll(signal()).then(
      () => null,
      (e) => e as Error,
    );
    assert.match(String(err?.message), /no reply to TempleteNum/);
    r.module.setSilent(false);
    await r.driver.poll(signal()); // one poll to pass the comm-error edge
    assert.equal((await r.driver.poll(signal())).faults, []);
  }));

test('relay: use by the POS software goes through the agent, and the driver reports capture counters and rates', () =>
  usingOpened(rig({ ageFraction: 0 }, {}, true), async (r) => {
    const outcomes = await r.module.use(60);
    assert.not.ok(outcomes.includes('no-reply'));
    const x = await r.driver.poll(signal());
    assert.is(x.counters.captures, r.module.stats.captures, 'every capture the module served was seen by the agent');
    assert.is(x.counters.imageFailures, r.module.stats.imageFailures + r.module.stats.featureFailures);
    assert.is(x.counters.matchFound, r.module.stats.matches);
    assert.is(x.counters.matchRejected, r.module.stats.rejections);
    assert.ok(x.counters.relayedCommands >= 60 * 3);
    assert.ok(x.metrics.imageFailRate < 0.2, `young window: ${x.metrics.imageFailRate}`);
    assert.equal(x.faults, []);
    assert.is(r.driver.stats().relay!.unanswered, 0);
  }));

test('relay: a worn sensor window raises image-quality-degraded from real use; ground truth is recorded at failure', () =>
  usingOpened(rig({ ageFraction: 0.95, ratedCaptures: 300 }, {}, true), async (r) => {
    // 95 % of a (short, for the test) rated life used: the window fails within the next captures.
    await r.module.use(150);
    const x = await r.driver.poll(signal());
    assert.ok(x.metrics.imageFailRate > 0.5, `worn window: ${x.metrics.imageFailRate}`);
    assert.ok(x.faults.includes('image-quality-degraded'));
    assert.ok(x.faults.includes('sensor-fail'), 'a window past its life fails CheckSensor');
    const truth = r.module.groundTruth();
    assert.is(truth.length, 1);
    assert.is(truth[0].part, 'sensor-window');
    assert.ok(truth[0].atUsage >= 285 && truth[0].atUsage <= r.module.window.usage, JSON.stringify(truth[0]));
  }));

test('relay: a template upload (ack + data packets) is forwarded whole and never interleaved with polls', () =>
  using(rig({}, {}, true), async (r) => {
    const pos = (r as unknown as { module: VirtualFingerprintModule }).module;
    await r.driver.open(signal());
    const { SerialPort } = await import('serialport');
    const { commands: cmds, splitFingerprintStream, instruction } = await import('../../agent/drivers/fingerprint/codec.js');
    const posPath = (r.driver as unknown as { stats(): unknown }) && (pos as unknown as { opts: { posPath: string } }).opts.posPath;
    const port = new SerialPort({ path: posPath, baudRate: 57600, autoOpen: false });
    await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
    let got: Uint8Array = new Uint8Array(0);
    port.on('data', (b: Buffer) => (got = Uint8Array.from([...got, ...b])));
    const { command } = await import('../../agent/drivers/fingerprint/codec.js');
    port.write(Buffer.from(command(instruction.upChar, [1])));
    const polls = [r.driver.poll(signal()), r.driver.poll(signal())];
    await Promise.all(polls);
    const deadline = Date.now() + 5000;
    while (splitFingerprintStream(got).frames.filter((f) => f.type === 'packet').length < 5 && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 20));
    const frames = splitFingerprintStream(got).frames;
    assert.equal(frames.map((f) => (f.type === 'packet' ? f.packet.pid : f.type)).join(','), [0x07, 0x02, 0x02, 0x02, 0x08].join(','));
    void cmds;
    await new Promise<void>((res) => port.close(() => res()));
  }));

test.run();
