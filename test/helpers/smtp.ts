// A real SMTP server (smtp-server, in-process on a free loopback port) that parses what it
// receives; `reject` answers a recipient with an SMTP reply code, or accepts it.
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

export type Received = { mail: ParsedMail; rcpt: string[] };

/** A real SMTP server; `reject` decides per recipient (an SMTP reply code) or accepts. */
export async function smtpServer(reject: (rcpt: string) => { code: number; message: string } | null = () => null) {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(address, _session, cb) {
      const r = reject(address.address);
      if (!r) return cb();
      const err = new Error(r.message) as Error & { responseCode: number };
      err.responseCode = r.code;
      cb(err);
    },
    onData(stream, session, cb) {
      simpleParser(stream).then(
        (mail) => {
          received.push({ mail, rcpt: session.envelope.rcptTo.map((a) => a.address) });
          cb();
        },
        (e: Error) => cb(e),
      );
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.server.address() as { port: number }).port;
  return { received, port, close: () => new Promise<void>((r) => server.close(() => r())) };
}
