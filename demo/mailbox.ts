// The demo's local mailbox: a real SMTP server (smtp-server) on a loopback port that keeps every
// message the server sends — store notices in the store's language, escalation mails to team
// leads — as an .eml file in a directory the demo prints, so a newcomer opens them in any mail
// reader. Not for production: it accepts anything from anyone on 127.0.0.1.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';

export type DemoMailbox = { dir: string; port: number; count(): number; close(): Promise<void> };

export async function startDemoMailbox(dir: string): Promise<DemoMailbox> {
  mkdirSync(dir, { recursive: true });
  let n = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', cb);
      stream.on('end', () => {
        n++;
        const to = session.envelope.rcptTo.map((a) => a.address).join(',');
        const name = `${String(n).padStart(4, '0')}-${to.replace(/[^\w@.-]+/g, '_').slice(0, 80)}.eml`;
        try {
          writeFileSync(join(dir, name), Buffer.concat(chunks));
          cb();
        } catch (e) {
          cb(e as Error);
        }
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as { port: number }).port;
  return { dir, port, count: () => n, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** The stores' notice addresses, one per demo tenant. */
export const storeEmail = (tenant: string) => `store-manager@${tenant}.example`;
