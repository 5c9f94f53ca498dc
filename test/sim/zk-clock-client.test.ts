// The virtual ZKTeco clock driven the way third-party clients drive a real one (pyzk `zk/base.py`,
// zkteco-js `src/ztcp.js`): request bytes as those clients send them, replies checked against the
// layouts they read. Framing uses the driver's codec; the clock's side is its own code
// (sim/zk-clock.ts), so this checks one reading of the protocol against the other.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Socket } from 'node:net';
import { VirtualZkClock } from '../../sim/zk-clock.js';
import {
  decodePacket,
  decodeZkTime,
  encodeRequest,
  makeCommKey,
  splitZkStream,
  USHRT_MAX,
  zkTimeToWallMs,
  type ZkPacket,
} from '../../agent/drivers/zk-clock/codec.js';

// Command numbers from pyzk zk/const.py.
const CMD_EXIT = 1001;
const CMD_AUTH = 1102;
const CMD_GET_FREE_SIZES = 50;
const CMD_GET_TIME = 201;
const CMD_SET_TIME = 202;
const CMD_PREPARE_DATA = 1500;
const CMD_DATA = 1501;
const CMD_FREE_DATA = 1502;
const CMD_PREPARE_BUFFER = 1503;
const CMD_READ_BUFFER = 1504;
const CMD_ACK_OK = 2000;
const CMD_ACK_UNAUTH = 2005;
/** pyzk read_with_buffer's TCP chunk (zkteco-js MAX_CHUNK). */
const MAX_CHUNK = 0xffc0;

const bytes = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

/** A bare TCP client: sends packets, hands back reply packets in order. */
class Client {
  private buf: Uint8Array = new Uint8Array(0);
  private readonly packets: Array<ZkPacket & { checksumOk: boolean }> = [];
  private waiter: (() => void) | null = null;
  private ended = false;
  session = 0;
  replyId = USHRT_MAX - 1;
  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      const joined = new Uint8Array(this.buf.length + chunk.length);
      joined.set(this.buf);
      joined.set(chunk, this.buf.length);
      const { frames, rest } = splitZkStream(joined);
      this.buf = rest;
      for (const f of frames) {
        assert.is(f.type, 'packet', 'the clock sends nothing but packets');
        if (f.type === 'packet') {
          const d = decodePacket(f.body);
          if (d.ok) this.packets.push(d.value);
        }
      }
      this.waiter?.();
    });
    socket.on('end', () => {
      this.ended = true;
      this.waiter?.();
    });
  }
  static async connect(clock: VirtualZkClock): Promise<Client> {
    const s = new Socket();
    await new Promise<void>((res, rej) => {
      s.once('error', rej);
      s.connect(clock.port, clock.host, () => res());
    });
    return new Client(s);
  }
  writeRaw(b: Uint8Array): void {
    this.socket.write(b);
  }
  send(command: number, data: Uint8Array = new Uint8Array(0)): number {
    const r = encodeRequest(command, data, this.session, this.replyId);
    this.replyId = r.replyId;
    this.socket.write(r.bytes);
    return r.replyId;
  }
  async next(): Promise<ZkPacket & { checksumOk: boolean }> {
    while (this.packets.length === 0) {
      if (this.ended) throw new Error('connection ended');
      await new Promise<void>((res) => (this.waiter = res));
      this.waiter = null;
    }
    const p = this.packets.shift()!;
    assert.ok(p.checksumOk, `reply ${p.command} carries a valid checksum`);
    return p;
  }
  async request(command: number, data?: Uint8Array): Promise<ZkPacket> {
    const id = this.send(command, data);
    const p = await this.next();
    assert.is(p.replyId, id, 'the reply carries the request reply id');
    return p;
  }
  get isEnded(): boolean {
    return this.ended;
  }
  close(): void {
    this.socket.destroy();
  }
}

/** pyzk `connect` up to an open session: CMD_CONNECT, and CMD_AUTH when answered UNAUTH. */
async function pyzkConnect(c: Client, key: number): Promise<ZkPacket> {
  // pyzk's first packet, byte for byte: session 0, reply id 65534 → checksum FC17, carries 0.
  c.writeRaw(bytes('5050827d08000000 e803 17fc 0000 0000'));
  c.replyId = 0;
  const r = await c.next();
  c.session = r.sessionId;
  if (r.command !== CMD_ACK_UNAUTH) return r;
  return c.request(CMD_AUTH, makeCommKey(key, c.session));
}

/** pyzk `read_with_buffer` over TCP: prepare, read chunks (PREPARE_DATA + DATA + ACK_OK each), free. */
async function readWithBuffer(c: Client, prepare: Uint8Array): Promise<{ data: Buffer; chunks: number }> {
  const p = await c.request(CMD_PREPARE_BUFFER, prepare);
  assert.is(p.command, CMD_ACK_OK);
  const size = Buffer.from(p.data).readUInt32LE(1);
  const parts: Buffer[] = [];
  let chunks = 0;
  for (let start = 0; start < size; start += MAX_CHUNK) {
    const n = Math.min(MAX_CHUNK, size - start);
    const req = Buffer.alloc(8);
    req.writeInt32LE(start, 0);
    req.writeInt32LE(n, 4);
    const id = c.send(CMD_READ_BUFFER, req);
    const head = await c.next();
    assert.is(head.command, CMD_PREPARE_DATA);
    assert.is(head.replyId, id);
    assert.is(Buffer.from(head.data).readUInt32LE(0), n, 'CMD_PREPARE_DATA announces the chunk size');
    const data = await c.next();
    assert.is(data.command, CMD_DATA);
    assert.is(data.data.length, n);
    parts.push(Buffer.from(data.data));
    assert.is((await c.next()).command, CMD_ACK_OK, 'each chunk ends with CMD_ACK_OK');
    chunks++;
  }
  assert.is((await c.request(CMD_FREE_DATA)).command, CMD_ACK_OK);
  return { data: Buffer.concat(parts), chunks };
}

const cstr = (b: Buffer) => b.subarray(0, b.indexOf(0) >= 0 ? b.indexOf(0) : b.length).toString('latin1');

/** pyzk `__decode_time`, written out here. */
function pyzkDecodeTime(v: number): number {
  const second = v % 60;
  v = Math.floor(v / 60);
  const minute = v % 60;
  v = Math.floor(v / 60);
  const hour = v % 24;
  v = Math.floor(v / 24);
  const day = (v % 31) + 1;
  v = Math.floor(v / 31);
  const month = (v % 12) + 1;
  v = Math.floor(v / 12);
  return Date.UTC(v + 2000, month - 1, day, hour, minute, second);
}

test('pyzk session with a comm key: connect, auth, time, free sizes, 25 users and 1,234 records downloaded, exit', async () => {
  const clock = await VirtualZkClock.start({ commKey: 731904, stored: { users: 25, fingers: 40, records: 1234, cards: 5 }, clockOffsetSec: 90 });
  const c = await Client.connect(clock);
  try {
    assert.is((await pyzkConnect(c, 731904)).command, CMD_ACK_OK);
    assert.is(clock.stats.badChecksums, 0);

    const t = await c.request(CMD_GET_TIME);
    assert.is(t.command, CMD_ACK_OK);
    const clockTime = decodeZkTime(t.data);
    assert.ok(clockTime.ok);
    assert.ok(Math.abs(zkTimeToWallMs(clockTime.value) - clock.clockNow()) <= 1000);

    const sizes = await c.request(CMD_GET_FREE_SIZES);
    const f = Buffer.from(sizes.data);
    assert.ok(f.length >= 80);
    assert.equal(
      [f.readInt32LE(16), f.readInt32LE(24), f.readInt32LE(32), f.readInt32LE(48)],
      [25, 40, 1234, 5],
      'users, fingers, records, cards at int32 4, 6, 8, 12',
    );

    // get_users: read_with_buffer(CMD_USERTEMP_RRQ, FCT_USER) = zkteco-js GET_USERS bytes.
    const users = await readWithBuffer(c, bytes('01 0900 05000000 00000000'));
    const userBytes = users.data.readUInt32LE(0);
    assert.is(userBytes / 25, 72, 'total size / users = 72: the ZK8 user record');
    const decoded = [];
    for (let off = 4; off + 72 <= users.data.length; off += 72) {
      const r = users.data.subarray(off, off + 72); // `<HB8s24sIx7sx24s`
      decoded.push({
        uid: r.readUInt16LE(0),
        privilege: r[2],
        name: cstr(r.subarray(11, 35)),
        card: r.readUInt32LE(35),
        group: cstr(r.subarray(40, 47)),
        userId: cstr(r.subarray(48, 72)),
      });
    }
    assert.is(decoded.length, 25);
    assert.equal(decoded[0], { uid: 1, privilege: 14, name: 'Staff 1', card: 4_000_001, group: '1', userId: '1' });
    assert.equal(
      decoded.map((u) => u.uid),
      Array.from({ length: 25 }, (_, i) => i + 1),
    );

    // get_attendance: read_with_buffer(CMD_ATTLOG_RRQ) = zkteco-js GET_ATTENDANCE_LOGS bytes.
    const att = await readWithBuffer(c, bytes('01 0d00 00000000 00000000'));
    assert.is(att.chunks, 1);
    assert.is(att.data.readUInt32LE(0) / 1234, 40, 'total size / records = 40: the ZK8 attendance record');
    const times: number[] = [];
    for (let off = 4; off + 40 <= att.data.length; off += 40) {
      const r = att.data.subarray(off, off + 40); // `<H24sB4sB8s`
      const uid = r.readUInt16LE(0);
      assert.ok(uid >= 1 && uid <= 25);
      assert.is(cstr(r.subarray(2, 26)), String(uid));
      assert.ok(r[31] === 0 || r[31] === 1, 'punch: check-in or check-out');
      times.push(pyzkDecodeTime(r.readUInt32LE(27)));
    }
    assert.is(times.length, 1234);
    assert.ok(
      times.every((x, i) => i === 0 || x >= times[i - 1]),
      'records in time order',
    );
    assert.ok(times[times.length - 1] <= clock.clockNow());

    // set_time(datetime(2026, 12, 4, 5, 10, 0)) = pack('I', 865401000) = a8 f8 94 33.
    assert.is((await c.request(CMD_SET_TIME, bytes('a8f89433'))).command, CMD_ACK_OK);
    const after = decodeZkTime((await c.request(CMD_GET_TIME)).data);
    assert.ok(after.ok);
    const got = zkTimeToWallMs(after.value) - Date.UTC(2026, 11, 4, 5, 10, 0);
    assert.ok(got >= 0 && got <= 2000, `clock reads ${got} ms after the time set`);

    assert.is((await c.request(CMD_EXIT)).command, CMD_ACK_OK);
    await new Promise<void>((res) => (c.isEnded ? res() : c.socket.once('end', () => res())));
  } finally {
    c.close();
    await clock.close();
  }
});

test('a wrong comm key is answered CMD_ACK_UNAUTH and the session stays closed', async () => {
  const clock = await VirtualZkClock.start({ commKey: 731904 });
  const c = await Client.connect(clock);
  try {
    assert.is((await pyzkConnect(c, 731905)).command, CMD_ACK_UNAUTH);
    assert.is(clock.stats.authRejected, 1);
    assert.is((await c.request(CMD_GET_TIME)).command, CMD_ACK_UNAUTH, 'nothing is answered before a good CMD_AUTH');
    assert.is((await c.request(CMD_AUTH, makeCommKey(731904, c.session, 0x7f))).command, CMD_ACK_OK, 'any tick byte, the right key');
    assert.is((await c.request(CMD_GET_TIME)).command, CMD_ACK_OK);
  } finally {
    c.close();
    await clock.close();
  }
});

test('a clock without a comm key accepts CMD_CONNECT at once (pyzk sends no CMD_AUTH)', async () => {
  const clock = await VirtualZkClock.start();
  const c = await Client.connect(clock);
  try {
    const r = await pyzkConnect(c, 0);
    assert.is(r.command, CMD_ACK_OK);
    assert.ok(r.sessionId > 0);
  } finally {
    c.close();
    await clock.close();
  }
});

test('a large attendance log comes in 0xFFC0-byte chunks; live punches carry the clock time', async () => {
  const clock = await VirtualZkClock.start({ stored: { users: 3, records: 2000 }, capacity: { records: 5000 }, clockOffsetSec: -3600 });
  const c = await Client.connect(clock);
  try {
    await pyzkConnect(c, 0);
    clock.punch(2);
    const att = await readWithBuffer(c, bytes('01 0d00 00000000 00000000'));
    assert.is(att.data.length, 4 + 2002 * 40);
    assert.is(att.chunks, 2);
    const last = pyzkDecodeTime(att.data.readUInt32LE(4 + 2001 * 40 + 27));
    assert.ok(Math.abs(last - clock.clockNow()) <= 2000, 'a live punch is stamped with the clock own (wrong) time');
    // A read past the prepared buffer, or without one, is refused.
    const req = Buffer.alloc(8);
    req.writeInt32LE(0, 0);
    req.writeInt32LE(16, 4);
    assert.is((await c.request(CMD_READ_BUFFER, req)).command, 2001, 'CMD_ACK_ERROR after CMD_FREE_DATA');
  } finally {
    c.close();
    await clock.close();
  }
});

test('the older whole-table read: CMD_ATTLOG_RRQ answered CMD_PREPARE_DATA (size), CMD_DATA, CMD_ACK_OK', async () => {
  const clock = await VirtualZkClock.start({ stored: { users: 25, records: 1234 } });
  const c = await Client.connect(clock);
  try {
    await pyzkConnect(c, 0);
    const id = c.send(13 /* CMD_ATTLOG_RRQ */);
    const head = await c.next();
    assert.equal([head.command, head.replyId, Buffer.from(head.data).readUInt32LE(0)], [CMD_PREPARE_DATA, id, 4 + 1234 * 40]);
    const data = await c.next();
    assert.is(data.command, CMD_DATA);
    assert.is(Buffer.from(data.data).readUInt32LE(0), 1234 * 40);
    assert.is((await c.next()).command, CMD_ACK_OK);
    const id2 = c.send(9 /* CMD_USERTEMP_RRQ */, Uint8Array.of(5));
    assert.equal([(await c.next()).replyId, (await c.next()).data.length, (await c.next()).command], [id2, 4 + 25 * 72, CMD_ACK_OK]);
  } finally {
    c.close();
    await clock.close();
  }
});

test('the clock drifts at its rate and keeps the offset it was set to', () => {
  const clock = new VirtualZkClock({ clockOffsetSec: 120, clockDriftPpm: 1e6 / 1000 });
  assert.ok(Math.abs(clock.clockOffsetSec() - 120) < 0.5);
  clock.setClock(-5, 0);
  assert.ok(Math.abs(clock.clockOffsetSec() + 5) < 0.5);
});

test.run();
