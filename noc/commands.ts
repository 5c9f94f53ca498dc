// Remote commands sent from the NOC: recorded in the command store (state/commands.ts; noc.db
// when embedded) before they go out (so a fast answer always finds its record), sent through the
// collector (cmd/req, QoS 1), answered by the agent's cmd/res. A command nobody answered within the timeout is marked expired (the agent drops it too:
// the request carries the same deadline). A late answer to an expired command is kept with it
// (result/error) but its status stays expired: the operator was already told.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CollectorHandle } from '../collector/index.js';
import type { CommandResult } from '../protocol/index.js';
import type { CommandStateStore } from '../state/commands.js';
import type { TicketStateStore } from '../state/tickets.js';
import type { CommandRequestBody, CommandStatus, LiveEvent, RemoteCommand } from './api.js';

/** Command results are JSON of any size from a device: keep at most this much. */
const MAX_RESULT_CHARS = 64 * 1024;

export class CommandService {
  private readonly timer: NodeJS.Timeout;
  private readonly offResults: () => void;
  private closed = false;

  constructor(
    private readonly store: CommandStateStore,
    private readonly collector: CollectorHandle,
    private readonly opts: {
      timeoutMs: number;
      log: Logger;
      publish: (e: LiveEvent) => void;
      /** Where a command's outcome is attached to the device's open tickets (remote diagnosis before a visit). */
      tickets?: TicketStateStore | null;
    },
  ) {
    this.offResults = collector.onCommandResult((r, at) => void this.answer(r, at));
    // Sweeps often enough that "expired" shows within a second of the deadline.
    this.timer = setInterval(() => void this.expire(Date.now()), Math.min(1000, Math.max(100, Math.floor(opts.timeoutMs / 10))));
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.offResults();
  }

  /**
   * Records and sends; the answer comes later (get, or a `command` live event). Does not wait for
   * the broker: with the broker unreachable the HTTP answer still comes at once, and the command
   * ends `failed` ("not sent: …") when the collector gives up on it.
   */
  async send(device: string, body: CommandRequestBody, user: string, now = Date.now()): Promise<RemoteCommand> {
    const id = randomUUID();
    const expiresAt = now + this.opts.timeoutMs;
    await this.store.insert({ id, device, name: body.name, peripheral: body.peripheral ?? null, args: body.args ?? {}, user, sentAt: now, expiresAt });
    this.opts.log.info({ id, device, name: body.name, peripheral: body.peripheral, user }, 'remote command');
    this.collector.sendCommand(device, { id, name: body.name, peripheral: body.peripheral, args: body.args }, this.opts.timeoutMs).catch((e: Error) => {
      if (!this.closed) void this.finish(id, 'failed', null, null, `not sent: ${e.message}`.slice(0, 1000), Date.now());
    });
    return (await this.store.get(id))!;
  }

  get(id: string): Promise<RemoteCommand | null> {
    return this.store.get(id);
  }

  ofDevice(device: string, limit: number): Promise<RemoteCommand[]> {
    return this.store.ofDevice(device, limit);
  }

  private async answer(r: CommandResult, at: number): Promise<void> {
    if (this.closed) return;
    try {
      const row = await this.store.get(r.id);
      if (!row || row.device !== r.device) return; // not ours (another NOC, a CLI tool) or a device answering for another
      let result: string | null = r.result === undefined ? null : JSON.stringify(r.result);
      if (result !== null && result.length > MAX_RESULT_CHARS) result = JSON.stringify({ truncated: true, chars: result.length });
      if (row.status !== 'pending') {
        await this.store.recordLateAnswer(r.id, at, result, r.error ?? null);
        return;
      }
      // The agent answers `expired` to a request that reached it after its deadline.
      const status: CommandStatus = r.ok ? 'ok' : r.error === 'expired' ? 'expired' : 'failed';
      await this.finish(r.id, status, at, result, r.error ?? null, at);
    } catch (e) {
      this.opts.log.error({ id: r.id, err: (e as Error).message }, 'command result not recorded');
    }
  }

  /** Ends a pending command; `answeredAt` is null when the device did not answer. */
  private async finish(id: string, status: CommandStatus, answeredAt: number | null, result: string | null, error: string | null, at: number): Promise<void> {
    try {
      const device = await this.store.finish(id, status, answeredAt, result, error);
      if (device === null) return;
      this.opts.log.info({ id, device, status, error }, 'remote command finished');
      this.opts.publish({ type: 'command', id, device, status, at });
      await this.attachToTickets(id, device, status, result, error, at);
    } catch (e) {
      this.opts.log.error({ id, err: (e as Error).message }, 'command outcome not recorded');
    }
  }

  /**
   * Remote diagnosis goes with the ticket: the outcome of a command (ping, counters, self-test, clock
   * sync…) becomes a comment on each open ticket of the device, so the technician reads what was
   * already tried before driving out, in the NOC and in ERPNext/Zammad. The event id is the
   * command's: a retry adds no second comment.
   */
  private async attachToTickets(id: string, device: string, status: CommandStatus, result: string | null, error: string | null, at: number): Promise<void> {
    const tickets = this.opts.tickets;
    if (!tickets) return;
    try {
      const open = (await tickets.ofDevice(device, 20)).filter((t) => t.status !== 'Resolved' && t.status !== 'Closed');
      if (!open.length) return;
      const cmd = await this.store.get(id);
      if (!cmd) return;
      const what = `${cmd.name}${cmd.peripheral ? ` (${cmd.peripheral})` : ''}`;
      const detail = status === 'ok' ? (result ?? 'no result') : (error ?? status);
      const comment = `Remote diagnosis by ${cmd.user}: ${what} → ${status}\n${detail.slice(0, 4000)}`;
      for (const t of open) await tickets.enqueue({ kind: 'update', key: t.key, at, eventId: `remote-${id}`, comment });
      this.opts.log.info({ id, device, tickets: open.map((t) => t.ref) }, 'remote diagnosis attached to open tickets');
    } catch (e) {
      this.opts.log.error({ id, device, err: (e as Error).message }, 'remote diagnosis not attached to the tickets');
    }
  }

  /** Marks pending commands past their deadline expired. */
  async expire(now: number): Promise<number> {
    if (this.closed) return 0;
    try {
      const ids = await this.store.overdue(now);
      for (const id of ids) await this.finish(id, 'expired', null, null, 'no answer before the deadline', now);
      return ids.length;
    } catch (e) {
      this.opts.log.error({ err: (e as Error).message }, 'command expiry sweep failed');
      return 0;
    }
  }
}
