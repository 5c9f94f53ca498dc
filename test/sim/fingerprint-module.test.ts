// The virtual fingerprint module, talked to with raw packets over its own PTY pair.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SerialPort } from 'serialport';
import { VirtualFingerprintModule } from '../../sim/fingerprint-module.js';
import { commands, splitFingerprintStream } from '../../agent/drivers/fingerprint/codec.js';
import { waitFor } from '../helpers/net.js';

async function host(path: string) {
  const port = new SerialPort({ path, baudRate: 57600, autoOpen: false });
  await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
  let got: Uint8Array = new Uint8Array(0);
  port.on('data', (b: Buffer) => (got = Uint8Array.from([...got, ...b])));
  return {
    async ask(cmd: Uint8Array): Promise<string> {
      got = new Uint8Array(0);
      port.write(Buffer.from(cmd));
      await waitFor('one ack', () => splitFingerprintStream(got).frames.some((f) => f.type === 'packet'), 3000, 5);
      const f = splitFingerprintStream(got).frames.find((x) => x.type === 'packet') as { bytes: Uint8Array };
      return Buffer.from(f.bytes).toString('hex').toUpperCase();
    },
    close: () => new Promise<void>((r) => port.close(() => r())),
  };
}

test('start() makes its own PTY; HandShake, VfyPwd, TempleteNum, CheckSensor, GenImg answer the manual bytes', async () => {
  const m = await VirtualFingerprintModule.start({ profile: 'grow-r503', templates: 0x2a, seed: 1 });
  const h = await host(m.hostPath!);
  try {
    assert.is(await h.ask(commands.handShake()), 'EF01FFFFFFFF07000300000A');
    assert.is(await h.ask(commands.vfyPwd(0)), 'EF01FFFFFFFF07000300000A');
    assert.is(await h.ask(commands.vfyPwd(1)), 'EF01FFFFFFFF07000313001D');
    assert.is(await h.ask(commands.templateNum()), 'EF01FFFFFFFF070005000' + '02A0036');
    assert.is(await h.ask(commands.genImg()), 'EF01FFFFFFFF07000302000C'); // no finger
    m.setSensorFailed(true);
    assert.is(await h.ask(commands.checkSensor()), 'EF01FFFFFFFF07000329' + '0033');
    m.setSensorFailed(false);
    assert.is(await h.ask(commands.checkSensor()), 'EF01FFFFFFFF07000300000A');
    assert.equal(m.groundTruth(), []);
  } finally {
    await h.close();
    await m.close();
  }
});

test('use() without a relay: outcomes come from the wear model; a window used past its life fails and is recorded', async () => {
  const m = await VirtualFingerprintModule.start({ profile: 'grow-r503', seed: 5, ratedCaptures: 200, ageFraction: 0.9, device: 'pos-009', peripheral: 'fp0' });
  try {
    const out = await m.use(200);
    assert.ok(out.length === 200);
    assert.ok(m.window.failed);
    const t = m.groundTruth();
    assert.is(t.length, 1);
    assert.equal({ device: t[0].device, peripheral: t[0].peripheral, part: t[0].part }, { device: 'pos-009', peripheral: 'fp0', part: 'sensor-window' });
    assert.ok(out.slice(-20).every((o) => o === 'image-fail'), 'a dead window fails every capture');
  } finally {
    await m.close();
  }
});

test.run();
