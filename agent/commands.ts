// Remote diagnosis commands (cmd/req → cmd/res). Every request gets an answer when it
// carries a usable id: expired, invalid, unknown and failing commands are answered with an error.
import type { Logger } from 'pino';
import { decodeCommandRequest, type CommandRequest, type CommandResult } from '../protocol/index.js';
import type { Poller } from './poller.js';

export type CommandAnswer = Pick<CommandResult, 'id' | 'ok' | 'result' | 'error'>;

export type CommandContext = {
  log: Logger;
  poller: Poller;
  /** The current inventory message body (also republished by the `inventory` command). */
  inventory: () => object;
  republishInventory: () => void;
  now: () => number;
};

export type CommandOutcome = 'ok' | 'failed' | 'invalid' | 'expired' | 'unanswerable';

const SELF_TEST_TIMEOUT_MS = 30_000;
const DRIVER_COMMAND_TIMEOUT_MS = 30_000;

/** The id of a request that failed validation, when there is one we can answer to. */
function salvageId(payload: Buffer): string | null {
  try {
    const raw = JSON.parse(payload.toString('utf8')) as { id?: unknown };
    return typeof raw?.id === 'string' && raw.id.length > 0 && raw.id.length <= 64 ? raw.id : null;
  } catch {
    return null;
  }
}

export async function runCommand(payload: Buffer, ctx: CommandContext): Promise<{ outcome: CommandOutcome; answer: CommandAnswer | null }> {
  const decoded = decodeCommandRequest(payload);
  if (!decoded.ok) {
    const id = salvageId(payload);
    ctx.log.warn({ reason: decoded.reason, detail: decoded.detail, id }, 'invalid command request');
    if (!id) return { outcome: 'unanswerable', answer: null };
    return { outcome: 'invalid', answer: { id, ok: false, error: `invalid request (${decoded.reason}): ${decoded.detail}`.slice(0, 1000) } };
  }
  const req = decoded.value;
  if (req.expires < ctx.now()) {
    ctx.log.info({ id: req.id, name: req.name, expires: req.expires }, 'command expired before it arrived');
    return { outcome: 'expired', answer: { id: req.id, ok: false, error: 'expired' } };
  }
  try {
    const result = await execute(req, ctx);
    ctx.log.info({ id: req.id, name: req.name, peripheral: req.peripheral }, 'command done');
    return { outcome: 'ok', answer: { id: req.id, ok: true, result } };
  } catch (e) {
    const error = (e instanceof Error ? e.message : String(e)).slice(0, 1000);
    ctx.log.warn({ id: req.id, name: req.name, error }, 'command failed');
    return { outcome: 'failed', answer: { id: req.id, ok: false, error } };
  }
}

function peripheralOf(req: CommandRequest, ctx: CommandContext): string {
  const id = req.peripheral;
  if (!id) throw new Error(`${req.name} needs a peripheral (one of ${ctx.poller.ids().join(', ')})`);
  if (!ctx.poller.has(id)) throw new Error(`unknown peripheral ${id}`);
  return id;
}

async function execute(req: CommandRequest, ctx: CommandContext): Promise<unknown> {
  switch (req.name) {
    case 'ping':
      return { pong: true, ts: ctx.now(), agentUptimeSec: Math.round(process.uptime()) };
    case 'self-test':
      return ctx.poller.selfTest(peripheralOf(req, ctx), SELF_TEST_TIMEOUT_MS);
    case 'read-counters': {
      const ids = req.peripheral ? [peripheralOf(req, ctx)] : ctx.poller.ids();
      const out: Record<string, unknown> = {};
      for (const id of ids) {
        const r = ctx.poller.lastReading(id);
        out[id] = r ? { ts: r.ts, counters: r.counters, health: r.health, faults: r.faults } : null;
      }
      return out;
    }
    case 'sync-clock-time':
      return ctx.poller.runDriverCommand(peripheralOf(req, ctx), req.name, req.args, DRIVER_COMMAND_TIMEOUT_MS);
    case 'inventory':
      ctx.republishInventory();
      return ctx.inventory();
    default:
      throw new Error(`unsupported command ${req.name}`);
  }
}
