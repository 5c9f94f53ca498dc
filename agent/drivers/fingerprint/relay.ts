// The agent as a pass-through between the POS software and the fingerprint module.
//
// Why: an R30x module keeps no statistics and no event log; the only record of how captures go
// (no finger, image failed, too few features, not found) is the confirmation codes of the POS
// software's own commands on the UART, and a UART has one owner. So when health from real use
// is wanted, the agent owns the module's port and offers the POS software a second serial port
// (one end of a PTY pair, e.g. a socat link `/dev/ttyFP-pos`, configured as `relay.path`); each
// command packet from the POS side is forwarded as one exclusive transaction on the module link
// (ack, and the data packets of UpChar/UpImage/DownChar/DownImage), so the agent's own status
// polls never interleave with it, and every ack's confirmation code is tallied. Bytes are
// forwarded unchanged; template and image data are never stored or logged. Without a relay the
// driver still reports status, template store and link health, just no capture rates.
import { SerialPort } from 'serialport';
import type { Logger } from 'pino';
import type { SerialRequestLink } from '../serial-link.js';
import { instruction, instructionName, pid, splitFingerprintStream, type FingerprintFrame } from './codec.js';

export type RelayStats = {
  /** Command packets from the POS side forwarded to the module. */
  forwarded: number;
  /** Of those, not answered by the module in time. */
  unanswered: number;
  /** Bytes from the POS side that were not packets. */
  garbageBytes: number;
  /** Data packets forwarded in either direction. */
  dataPackets: number;
};

export type FingerprintRelayOptions = {
  path: string;
  baudRate: number;
  link: SerialRequestLink<FingerprintFrame>;
  log: Logger;
  /** How long the module gets to answer a relayed command (search on a full library is slow). */
  replyTimeoutMs: number;
  /** Every relayed ack: the instruction it answered and its confirmation code. */
  onOutcome: (instr: number, code: number) => void;
};

/** Instructions followed by data packets from the module / from the host once acked 00. */
const UPLOADS = new Set<number>([instruction.upChar, instruction.upImage]);
const DOWNLOADS = new Set<number>([instruction.downChar, instruction.downImage]);
const DATA_PHASE_TIMEOUT_MS = 5000;

export class FingerprintRelay {
  private port: SerialPort | null = null;
  private buf: Uint8Array = new Uint8Array(0);
  /** `held`: upload packets that arrived in the same chunk as the ack, sent after it. */
  private dataPhase: { done: () => void; direction: 'up' | 'down'; ackSent: boolean; held: Uint8Array[] } | null = null;
  readonly stats: RelayStats = { forwarded: 0, unanswered: 0, garbageBytes: 0, dataPackets: 0 };

  constructor(private readonly o: FingerprintRelayOptions) {}

  get isOpen(): boolean {
    return !!this.port?.isOpen;
  }

  async open(): Promise<void> {
    if (this.port?.isOpen) return;
    const port = new SerialPort({ path: this.o.path, baudRate: this.o.baudRate, autoOpen: false });
    port.on('data', (chunk: Buffer) => this.fromPos(chunk));
    port.on('error', (err) => this.o.log.warn({ err: err.message, path: this.o.path }, 'relay port error'));
    await new Promise<void>((resolve, reject) =>
      port.open((err) => (err ? reject(new Error(`cannot open relay port ${this.o.path}: ${err.message}`)) : resolve())),
    );
    this.port = port;
  }

  async close(): Promise<void> {
    const port = this.port;
    this.port = null;
    this.dataPhase?.done();
    if (port?.isOpen) await new Promise<void>((r) => port.close(() => r()));
  }

  /** A frame from the module nobody asked for: data packets of an upload, the ready byte. */
  fromModule(frame: FingerprintFrame): void {
    const port = this.port;
    if (!port?.isOpen) return;
    if (frame.type === 'ready') {
      port.write(Buffer.of(0x55));
      return;
    }
    const phase = this.dataPhase;
    if (phase?.direction !== 'up') return; // a late ack of a timed-out command: dropped
    this.stats.dataPackets++;
    // The ack resolves its request a microtask later than this synchronous dispatch: hold the
    // data until the ack has gone out, so the POS side sees them in the module's order.
    if (!phase.ackSent) {
      phase.held.push(frame.bytes);
      return;
    }
    port.write(Buffer.from(frame.bytes));
    if (frame.packet.pid === pid.endOfData) phase.done();
  }

  private fromPos(chunk: Buffer): void {
    try {
      const joined = new Uint8Array(this.buf.length + chunk.length);
      joined.set(this.buf);
      joined.set(chunk, this.buf.length);
      const { frames, rest } = splitFingerprintStream(joined);
      this.buf = rest.length > 4096 ? new Uint8Array(0) : rest;
      for (const f of frames) {
        if (f.type === 'garbage') this.stats.garbageBytes += f.bytes.length;
        else if (f.type === 'packet') this.packetFromPos(f);
      }
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, 'relay stream handler failed');
      this.buf = new Uint8Array(0);
    }
  }

  private packetFromPos(f: Extract<FingerprintFrame, { type: 'packet' }>): void {
    const p = f.packet;
    if (p.pid === pid.data || p.pid === pid.endOfData) {
      // Data of a download in progress goes straight to the module inside its transaction.
      if (this.dataPhase?.direction !== 'down') return;
      this.stats.dataPackets++;
      this.o.link.write(f.bytes).catch(() => undefined);
      if (p.pid === pid.endOfData) this.dataPhase.done();
      return;
    }
    if (p.pid !== pid.command || p.payload.length < 1) return;
    const instr = p.payload[0];
    this.stats.forwarded++;
    void this.o.link
      .exclusive(() => this.transaction(f.bytes, instr))
      .catch((err) => {
        this.stats.unanswered++;
        this.o.log.debug({ instruction: instructionName(instr), err: (err as Error).message }, 'relayed command not answered');
      });
  }

  private async transaction(bytes: Uint8Array, instr: number): Promise<void> {
    const signal = AbortSignal.timeout(this.o.replyTimeoutMs + DATA_PHASE_TIMEOUT_MS);
    const isAck = (fr: FingerprintFrame) => fr.type === 'packet' && fr.packet.pid === pid.ack;
    // The data phase is armed before the command goes out: upload data may follow the ack at once.
    const phase: { wait: Promise<void> | null } = { wait: null };
    const arm = (direction: 'up' | 'down') => {
      phase.wait = new Promise<void>((resolve) => {
        const t = setTimeout(finish, DATA_PHASE_TIMEOUT_MS);
        const self = this;
        function finish() {
          clearTimeout(t);
          if (self.dataPhase?.done === finish) self.dataPhase = null;
          resolve();
        }
        this.dataPhase = { done: finish, direction, ackSent: false, held: [] };
      });
    };
    if (UPLOADS.has(instr)) arm('up');
    const r = await this.o.link.sendInside(bytes, isAck, `relayed ${instructionName(instr)}`, this.o.replyTimeoutMs, signal).catch((e) => {
      this.dataPhase?.done();
      throw e;
    });
    const frame = r.frame as Extract<FingerprintFrame, { type: 'packet' }>;
    const code = frame.packet.payload[0] ?? 0xff;
    this.port?.write(Buffer.from(frame.bytes));
    this.o.onOutcome(instr, code);
    const up = this.dataPhase;
    if (up?.direction === 'up') {
      up.ackSent = true;
      for (const b of up.held.splice(0)) {
        this.port?.write(Buffer.from(b));
        if (b[6] === pid.endOfData) up.done();
      }
    }
    if (code !== 0x00) this.dataPhase?.done();
    else if (DOWNLOADS.has(instr)) arm('down');
    if (phase.wait) await phase.wait;
  }
}
