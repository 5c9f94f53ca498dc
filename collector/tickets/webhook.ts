// Webhook sink: a JSON POST signed with HMAC-SHA256 over the raw body.
//   X-Fleetcare-Signature: sha256=<hex HMAC(secret, raw body)>
//   X-Fleetcare-Timestamp: <unix seconds>, equal to the body's `timestamp` (so it is signed too):
//     receivers reject stale timestamps (replay)
//   Idempotency-Key: <ticket ref>:v<version>: receivers drop repeats (we resend after an
//     unknown outcome: there is nothing to search).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { SinkOperation } from './model.js';
import { clip, httpFailure, httpRequest, isOk, type ExternalTicket, type TicketSink } from './sink.js';

export const webhookSinkConfigSchema = z.object({
  name: z.string().default('webhook'),
  url: z.string().url(),
  secret: z.string().min(16),
  timeoutMs: z.number().int().positive().default(15_000),
});
export type WebhookSinkConfigInput = z.input<typeof webhookSinkConfigSchema>;

export const SIGNATURE_HEADER = 'x-fleetcare-signature';
export const TIMESTAMP_HEADER = 'x-fleetcare-timestamp';
export const IDEMPOTENCY_HEADER = 'idempotency-key';

export function signWebhookBody(secret: string, rawBody: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

export type WebhookVerification = { ok: true } | { ok: false; reason: 'signature' | 'timestamp' | 'stale' };

/** For receivers (and tests): checks signature, that the header timestamp is the signed one, and freshness. */
export function verifyWebhook(
  secret: string,
  rawBody: string | Buffer,
  headers: { signature?: string; timestamp?: string },
  opts: { nowSec?: number; toleranceSec?: number } = {},
): WebhookVerification {
  const expected = Buffer.from(signWebhookBody(secret, rawBody));
  const got = Buffer.from(headers.signature ?? '');
  if (expected.length !== got.length || !timingSafeEqual(expected, got)) return { ok: false, reason: 'signature' };
  let bodyTs: unknown;
  try {
    bodyTs = (JSON.parse(rawBody.toString()) as { timestamp?: unknown }).timestamp;
  } catch {
    return { ok: false, reason: 'timestamp' };
  }
  if (String(bodyTs) !== headers.timestamp) return { ok: false, reason: 'timestamp' };
  const now = opts.nowSec ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(bodyTs)) > (opts.toleranceSec ?? 300)) return { ok: false, reason: 'stale' };
  return { ok: true };
}

export class WebhookSink implements TicketSink {
  readonly name: string;
  private readonly cfg: z.infer<typeof webhookSinkConfigSchema>;

  constructor(
    config: WebhookSinkConfigInput,
    private readonly log: Logger,
  ) {
    this.cfg = webhookSinkConfigSchema.parse(config);
    this.name = this.cfg.name;
  }

  private async post(op: SinkOperation): Promise<void> {
    const timestamp = Math.floor(Date.now() / 1000);
    const { kind, ref, key, version, eventIds, ...rest } = op;
    const raw = JSON.stringify({ v: 1, type: `ticket.${kind}`, timestamp, ref, key, version, eventIds, ...rest });
    const headers = {
      'Content-Type': 'application/json',
      'X-Fleetcare-Signature': signWebhookBody(this.cfg.secret, raw),
      'X-Fleetcare-Timestamp': String(timestamp),
      'Idempotency-Key': `${ref}:v${version}`,
    };
    const path = new URL(this.cfg.url).pathname;
    const r = await httpRequest(this.cfg.url, { method: 'POST', headers, body: raw }, { timeoutMs: this.cfg.timeoutMs, log: this.log });
    if (!isOk(r.status)) throw httpFailure('POST', path, r, clip(r.text, 200));
  }

  async create(op: Extract<SinkOperation, { kind: 'create' }>): Promise<ExternalTicket> {
    await this.post(op);
    return { externalId: op.ref };
  }

  async update(_externalId: string, op: Extract<SinkOperation, { kind: 'update' }>): Promise<void> {
    await this.post(op);
  }

  /** A webhook cannot be searched: resending with the same idempotency key is the dedup. */
  async find(): Promise<undefined> {
    return undefined;
  }
}
