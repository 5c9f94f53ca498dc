// pino loggers for tests: a silent one, and one whose JSON lines are kept for assertions.
import { Writable } from 'node:stream';
import { pino, type Level, type Logger } from 'pino';

/** One pino JSON line, parsed. */
export type LogLine = { level: number; msg: string; [k: string]: unknown };

export type CapturedLog = {
  log: Logger;
  lines: LogLine[];
  /** Every line as JSON text, one a line (for "the secret is never logged" checks). */
  text(): string;
  /** Lines whose message contains `msg` (a string) or matches it (a RegExp). */
  find(msg: string | RegExp): LogLine[];
};

export function captureLog(level: Level = 'debug'): CapturedLog {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  return {
    log: pino({ level }, stream),
    lines,
    text: () => lines.map((l) => JSON.stringify(l)).join('\n'),
    find: (msg) => lines.filter((l) => (typeof msg === 'string' ? String(l.msg).includes(msg) : msg.test(String(l.msg)))),
  };
}

/** A line with exactly this message and these fields (a RegExp field matches the value as text). */
export const hasLog = (lines: LogLine[], msg: string, fields: Record<string, unknown> = {}) =>
  lines.some((l) => l.msg === msg && Object.entries(fields).every(([k, v]) => (v instanceof RegExp ? v.test(String(l[k])) : l[k] === v)));

export const silentLog = (): Logger => pino({ level: 'silent' });
