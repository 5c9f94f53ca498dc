// The virtual ESC/POS printer, talked to with raw bytes over its own socat PTY pair: it must
// answer exactly what the manuals say a printer answers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { SerialPort } from 'serialport';
import { createPtyPair } from '../../sim/pty.js';
import { VirtualEscposPrinter, identityFromProfile, type VirtualEscposPrinterOptions } from '../../sim/escpos-printer.js';
import { loadFirmwareProfiles, defaultFirmwareProfilesDir } from '../../firmware-profiles/loader.js';
import { sleep, waitFor } from '../helpers/net.js';
import { using } from '../helpers/rig.js';

const profiles = loadFirmwareProfiles(defaultFirmwareProfilesDir());

/** A raw host end: write bytes, collect what comes back. */
async function host(path: string) {
  const port = new SerialPort({ path, baudRate: 9600, autoOpen: false });
  await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
  let got: number[] = [];
  port.on('data', (b: Buffer) => got.push(...b));
  return {
    async ask(bytes: number[], replyLength: number, timeoutMs = 2000): Promise<number[]> {
      got = [];
      port.write(Buffer.from(bytes));
      await waitFor(`${replyLength} reply bytes to ${bytes.map((b) => b.toString(16)).join(' ')}`, () => got.length >= replyLength, timeoutMs, 5);
      await sleep(20); // nothing more must follow
      return got;
    },
    async trickle(bytes: number[], replyLength: number): Promise<number[]> {
      got = [];
      for (const b of bytes) {
        port.write(Buffer.of(b));
        await new Promise<void>((r) => port.drain(() => r()));
        await sleep(5);
      }
      await waitFor('reply to a trickled command', () => got.length >= replyLength, 2000, 5);
      return got;
    },
    async silenceFor(bytes: number[], ms: number): Promise<number[]> {
      got = [];
      port.write(Buffer.from(bytes));
      await sleep(ms);
      return got;
    },
    close: () => new Promise<void>((r) => port.close(() => r())),
  };
}

/** A virtual printer (a TM-T88VI unless `opts` say otherwise) and a raw host end on its PTY. */
async function printerAndHost(opts: VirtualEscposPrinterOptions = { profile: 'epson-tm-t88vi', profiles }) {
  const p = await VirtualEscposPrinter.start(opts);
  const h = await host(p.hostPath!);
  const close = async () => {
    await h.close();
    await p.close();
  };
  return { p, h, close };
}

const block = (s: string) => [0x5f, ...Buffer.from(s, 'latin1'), 0x00];

test('createPtyPair links two paths and close removes them', async () => {
  const pair = await createPtyPair();
  assert.ok(existsSync(pair.hostPath) && existsSync(pair.devicePath));
  await pair.close();
  assert.not.ok(existsSync(dirname(pair.hostPath)));
  await pair.close(); // idempotent
});

test('DLE EOT 1..4: healthy, cover open, paper near end, paper end', () =>
  using(printerAndHost(), async ({ p, h }) => {
    const all = async () => [
      ...(await h.ask([0x10, 0x04, 1], 1)),
      ...(await h.ask([0x10, 0x04, 2], 1)),
      ...(await h.ask([0x10, 0x04, 3], 1)),
      ...(await h.ask([0x10, 0x04, 4], 1)),
    ];
    assert.equal(await all(), [0x12, 0x12, 0x12, 0x12]);
    p.setDrawerPin3(true);
    assert.equal(await h.ask([0x10, 0x04, 1], 1), [0x16]);
    p.setDrawerPin3(false);
    p.setCoverOpen(true);
    assert.equal(await all(), [0x1a, 0x16, 0x12, 0x12]);
    p.setCoverOpen(false);
    p.setPaper('near-end');
    assert.equal(await all(), [0x12, 0x12, 0x12, 0x1e]);
    p.setPaper('end');
    assert.equal(await all(), [0x1a, 0x32, 0x12, 0x7e]);
    p.setPaper('ok');
    p.setCutterJam(true);
    assert.equal(await all(), [0x3a, 0x52, 0x1a, 0x12]);
    // DLE ENQ 1 recovers from the recoverable cutter error.
    assert.equal(await h.silenceFor([0x10, 0x05, 0x01], 50), [], 'DLE ENQ has no answer');
    await waitFor('the recovery recorded', () => p.stats.recoveries === 1);
    assert.equal(await all(), [0x12, 0x12, 0x12, 0x12]);
    p.setUnrecoverableError(true);
    assert.equal(await h.ask([0x10, 0x04, 3], 1), [0x32]);
  }));

test('GS I: model, type, ROM bytes and printer information B blocks from the profile', async () => {
  const profile = profiles.find((x) => x.id === 'epson-tm-t20iii')!;
  await using(printerAndHost({ profile, serial: 'X5QF000777' }), async ({ h }) => {
    const id = identityFromProfile(profile, 'X5QF000777');
    assert.equal(await h.ask([0x1d, 0x49, 1], 1), [id.modelId]);
    assert.equal(await h.ask([0x1d, 0x49, 2], 1), [0x02]);
    assert.equal(await h.ask([0x1d, 0x49, 3], 1), [0x01]);
    assert.equal(await h.ask([0x1d, 0x49, 67], 10), block('TM-T20III'));
    assert.equal(await h.ask([0x1d, 0x49, 66], 7), block('EPSON'));
    assert.equal(await h.ask([0x1d, 0x49, 68], 12), block('X5QF000777'));
    assert.equal(await h.ask([0x1d, 0x49, 65], 15), block('30.01 ESC/POS'));
    // A field the model does not have is not answered at all, like real firmware.
    assert.equal(await h.silenceFor([0x1d, 0x49, 69], 150), []);
  });
});

test('GS g 2 counters: 5F 31 32 30 00 after 120 lines; resettable vs cumulative; split writes', () =>
  using(printerAndHost(), async ({ p, h }) => {
    assert.ok(p.print(120, 2));
    assert.equal(await h.ask([0x1d, 0x67, 0x32, 0x00, 0x94, 0x00], 5), [0x5f, 0x31, 0x32, 0x30, 0x00]);
    assert.equal(await h.ask([0x1d, 0x67, 0x32, 0x00, 0xb2, 0x00], 3), block('2'));
    assert.equal(await h.ask([0x1d, 0x67, 0x32, 0x00, 0x95, 0x00], 6), block('3600'));
    // A real printer would reset the resettable counter on GS g 0; the simulator records the attempt.
    assert.equal(await h.silenceFor([0x1d, 0x67, 0x30, 0x00, 0x14, 0x00], 50), [], 'GS g 0 has no answer');
    // Waited for, not assumed after the 50 ms: on a loaded machine the bytes can arrive later.
    await waitFor('the reset attempt recorded', () => p.stats.counterResetAttempts === 1);
    assert.equal(await h.ask([0x1d, 0x67, 0x32, 0x00, 0x14, 0x00], 3), block('0'));
    assert.equal(await h.ask([0x1d, 0x67, 0x32, 0x00, 0x94, 0x00], 5), block('120'));
    // A command arriving one byte at a time is still understood; the LF before it feeds one line.
    assert.equal(await h.trickle([0x41, 0x42, 0x0a, 0x1d, 0x67, 0x32, 0x00, 0x94, 0x00], 5), block('121'));
  }));

test('ASB: first frame on GS a, then one per change', () =>
  using(printerAndHost(), async ({ p, h }) => {
    assert.equal(await h.ask([0x1d, 0x61, 0x0f], 4), [0x10, 0x00, 0x00, 0x00]);
    const pending = h.silenceFor([], 100);
    p.setCoverOpen(true);
    assert.equal(await pending, [0x38, 0x00, 0x00, 0x00]);
    assert.equal(await h.silenceFor([0x1d, 0x61, 0x00], 50), []);
    p.setCoverOpen(false);
    assert.equal(await h.silenceFor([], 100), []);
  }));

test('scripted misbehaviour: garbage, silence, half frames, slow replies', () =>
  using(printerAndHost({ profile: 'epson-tm-t88vi', profiles, counters: { linesFed: 120 } }), async ({ p, h }) => {
    p.setGarbageBeforeReplies(Uint8Array.of(0xff, 0x00));
    assert.equal(await h.ask([0x10, 0x04, 1], 3), [0xff, 0x00, 0x12]);
    p.setGarbageBeforeReplies(null);
    p.setSilent(true);
    const silent = h.silenceFor([0x10, 0x04, 1], 300);
    await waitFor('reply dropped', () => p.stats.repliesDropped === 1);
    assert.equal(await silent, []);
    p.setSilent(false);
    p.stopMidFrame(1);
    // Half of `5F 31 32 30 00`, and nothing more.
    assert.equal(await h.ask([0x1d, 0x67, 0x32, 0x00, 0x94, 0x00], 3), [0x5f, 0x31, 0x32]);
    assert.equal(await h.silenceFor([], 300), []);
    assert.equal(await h.ask([0x1d, 0x67, 0x32, 0x00, 0x94, 0x00], 5), block('120'));
    p.stopMidFrame(1, { thenSilent: true });
    // GS I 67 is cut after "_TM-T", and the DLE EOT 1 behind it is never answered.
    assert.equal(await h.ask([0x1d, 0x49, 67, 0x10, 0x04, 0x01], 5), [0x5f, 0x54, 0x4d, 0x2d, 0x54]);
    await waitFor('DLE EOT dropped', () => p.stats.repliesDropped === 2);
    assert.equal(await h.silenceFor([], 300), []);
    p.setSilent(false);
    // Slow replies keep their order: the delayed DLE EOT 1 reply comes before the DLE EOT 2 one.
    p.setReplyDelay(200);
    p.setCoverOpen(true);
    assert.equal(await h.ask([0x10, 0x04, 1, 0x10, 0x04, 2], 2), [0x1a, 0x16]);
  }));

test('usage: print refused while offline, auto-usage advances counters, age from rated life', async () => {
  const p = await VirtualEscposPrinter.start({
    profile: 'epson-tm-t90',
    profiles,
    ageFraction: 0.5,
    autoUsage: { linesPerSecond: 100, cutsPerSecond: 10, tickMs: 50 },
  });
  try {
    const start = p.counters();
    // TM-T90 cutter rated 2 M cuts; mechanism 20 M lines is the first-ending life of linesFed.
    assert.ok(start.autocutterCuts >= 1_000_000 && start.autocutterCuts < 1_000_100);
    assert.ok(start.linesFed >= 10_000_000 && start.linesFed < 10_001_000);
    await waitFor('auto usage', () => p.counters().autocutterCuts >= start.autocutterCuts + 2);
    p.setCoverOpen(true);
    await sleep(60);
    const frozen = p.counters();
    assert.is(p.print(10, 1), false);
    await sleep(150);
    assert.is(p.counters().linesFed, frozen.linesFed);
    assert.ok(p.stats.printsRefused >= 2);
  } finally {
    await p.close();
  }
});

/** `GS v 0 m xL xH yL yH` + x·y bytes of raster data (python-escpos `_raster`, Epson reference). */
function raster(widthBytes: number, heightDots: number, fill: number[]): number[] {
  const data = Array.from({ length: widthBytes * heightDots }, (_, i) => fill[i % fill.length]);
  return [0x1d, 0x76, 0x30, 0x00, widthBytes & 0xff, widthBytes >> 8, heightDots & 0xff, heightDots >> 8, ...data];
}

test('length-aware parsing: GS a / GS I / GS r / GS g inside raster data are pixels, not commands', () =>
  using(printerAndHost(), async ({ p, h }) => {
    const id = identityFromProfile(profiles.find((x) => x.id === 'epson-tm-t88vi')!, 'SIM0000001');
    // Image bytes that spell GS a 0F (enable ASB), GS I 1, GS r 1 and GS g 2 cumulative lines fed.
    const trap = [0x1d, 0x61, 0x0f, 0x1d, 0x49, 0x01, 0x1d, 0x72, 0x01, 0x1d, 0x67, 0x32, 0x00, 0x94, 0x00, 0xff];
    const image = raster(16, 60, trap);
    // Sent with a real GS I 1 after it: the only reply must be that one byte.
    assert.equal(await h.ask([...image, 0x1d, 0x49, 0x01], 1), [id.modelId]);
    assert.is(p.asb, false, 'ASB not switched on by image bytes');
    assert.is(p.stats.imageDataBytes, 16 * 60);
    // The 60-dot image fed 2 lines (30 units a line); GS g 2 148 says so.
    assert.equal(await h.ask([0x1d, 0x67, 0x32, 0x00, 0x94, 0x00], 3), block('2'));
    // Same for ESC * bit images and GS ( L graphics blocks.
    const escStar = [0x1b, 0x2a, 0x21, 5, 0, ...Array.from({ length: 15 }, (_, i) => trap[i])];
    const gsParenL = [0x1d, 0x28, 0x4c, trap.length + 2, 0, 0x30, 0x70, ...trap];
    assert.equal(await h.ask([...escStar, ...gsParenL, 0x1d, 0x49, 0x01], 1), [id.modelId]);
    assert.is(p.asb, false);
  }));

test('real-time DLE EOT is answered even inside image data, as the Epson reference warns', () =>
  using(printerAndHost(), async ({ h }) => {
    // 10 04 01 inside the pixels: the printer answers it (0x12 = healthy) and prints the rest.
    assert.equal(await h.ask(raster(4, 3, [0x00, 0x10, 0x04, 0x01]).slice(0, 20), 3), [0x12, 0x12, 0x12]);
  }));

test('maintenance counters advance with the feeds and cuts the printer is sent (LF, ESC d, ESC J, ESC 3, GS V)', () =>
  using(printerAndHost(), async ({ p, h }) => {
    const text = (t: string) => [...Buffer.from(t, 'latin1')];
    const receipt = [
      0x1b,
      0x40, // ESC @
      ...text('TOTAL 12.50'),
      0x0a,
      ...text('THANK YOU'),
      0x0a,
      0x0a, // 3 lines
      0x1b,
      0x64,
      0x05, // ESC d 5: 5 lines
      0x1b,
      0x4a,
      0x3c, // ESC J 60: 60 units = 2 lines
      0x1b,
      0x33,
      0x3c,
      0x0a,
      0x1b,
      0x32, // ESC 3 60 then LF: 2 lines; ESC 2 back to default
      0x1d,
      0x56,
      0x42,
      0x00, // GS V 66 0: feed 0 and cut
      0x1d,
      0x56,
      0x01, // GS V 1: partial cut
    ];
    assert.equal(await h.ask([...receipt, 0x1d, 0x67, 0x32, 0x00, 0x94, 0x00], 4), block('12'));
    assert.equal(await h.ask([0x1d, 0x67, 0x32, 0x00, 0xb2, 0x00], 3), block('2'));
    assert.equal(await h.ask([0x1d, 0x67, 0x32, 0x00, 0x95, 0x00], 5), block('360'), 'head pulses: 30 per line fed');
    // While the cover is open nothing is fed or cut.
    p.setCoverOpen(true);
    assert.equal(await h.ask([0x0a, 0x0a, 0x1d, 0x56, 0x00, 0x1d, 0x67, 0x32, 0x00, 0xb2, 0x00], 3), block('2'));
    assert.ok(p.stats.printsRefused >= 3);
    assert.is(p.stats.unknownCommands, 0);
  }));

test.run();
