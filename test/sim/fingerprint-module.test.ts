// The virtual fingerprint module, talked to with raw packets over its own PTY pair, the way
// third-party clients (Adafruit_CircuitPython_Fingerprint, the R503 manual) talk to a real one.
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
    assert.ok(
      out.slice(-20).every((o) => o === 'image-fail'),
      'a dead window fails every capture',
    );
  } finally {
    await m.close();
  }
});

test('ReadIndexTable (0x1F) lists the used slots as Adafruit read_templates decodes them; Store and DeletChar change them', async () => {
  const m = await VirtualFingerprintModule.start({ profile: 'grow-r503', templates: 42, capacity: 1000, seed: 1 });
  const h = await host(m.hostPath!);
  try {
    // ReadSysPara `EF01 FFFFFFFF 01 0003 0F 0013`: library size 1000 = 0x03E8 at data bytes 4–5.
    const sys = await h.ask(Uint8Array.from(Buffer.from('EF01FFFFFFFF0100030F0013', 'hex')));
    assert.is(sys.slice(0, 24), 'EF01FFFFFFFF070013' + '00' + '0000');
    assert.is(sys.slice(28, 32), '03E8');
    // Store buffer 1 at slot 300 (`06 01 012C`), delete slot 5 (`0C 0005 0001`).
    assert.is(await h.ask(Uint8Array.from(Buffer.from('EF01FFFFFFFF010006060101' + '2C' + '003B', 'hex'))), 'EF01FFFFFFFF07000300000A');
    assert.is(await h.ask(Uint8Array.from(Buffer.from('EF01FFFFFFFF0100070C00050001' + '001A', 'hex'))), 'EF01FFFFFFFF07000300000A');
    const slots: number[] = [];
    for (let page = 0; page < Math.ceil(1000 / 256); page++) {
      const sum = (0x01 + 0x00 + 0x04 + 0x1f + page).toString(16).padStart(4, '0');
      const reply = Buffer.from(await h.ask(Uint8Array.from(Buffer.from(`EF01FFFFFFFF0100041F${page.toString(16).padStart(2, '0')}${sum}`, 'hex'))), 'hex');
      assert.is(reply.length, 44, 'Adafruit reads 44 bytes: header 9, code, 32 bytes of bits, checksum');
      assert.is(reply[9], 0x00);
      for (let i = 0; i < 32; i++) for (let bit = 0; bit < 8; bit++) if (reply[10 + i] & (1 << bit)) slots.push(i * 8 + bit + page * 256);
    }
    const expected = [...Array.from({ length: 42 }, (_, i) => i).filter((i) => i !== 5), 300];
    assert.equal(slots, expected);
    assert.equal(m.templateSlots(), expected);
    // TempleteNum agrees: 42 − 1 + 1.
    assert.is(await h.ask(commands.templateNum()), 'EF01FFFFFFFF070005000' + '02A0036');
    // A page past the fourth is a bad location, not a receive error.
    assert.is((await h.ask(Uint8Array.from(Buffer.from('EF01FFFFFFFF0100041F040028', 'hex')))).slice(18, 20), '0B');
  } finally {
    await h.close();
    await m.close();
  }
});

test.run();
