// One error model for agent, broker, collector and NOC, after zwave-js's ZWaveError: a single
// FleetcareError with a code from one enum, and helpers that ask about the code, never the class.
// It lives in protocol/ because codes go on the wire (a `peripheral-detached` event says why in
// its `code`), and the agent must be able to import it without server code.
import { z } from 'zod';

export const fleetcareErrorCode = z.enum([
  // a peripheral or a link
  /** No answer before a deadline: a reply, a connect, a whole poll. `context`: what, ms. */
  'timeout',
  /** The session to a peripheral ended (clock rebooted, TCP reset). */
  'connection-closed',
  /** The peripheral wants credentials the agent does not have (a clock's comm key). */
  'auth-required',
  /** The peripheral refused the credentials the agent has (a clock's wrong comm key). */
  'comm-key-rejected',
  /** A USB transfer stalled: the device refused this request; the next one may work. */
  'usb-stall',
  /** The USB device is gone. */
  'usb-disconnected',
  /** The MQTT broker refused the connection. `context`: returnCode (MQTT 3.1.1 CONNACK). */
  'connection-refused',
  // files and command lines
  /** A config file or flag fails validation; the message names the field. */
  'config-invalid',
  /** A command called the wrong way. */
  'usage',
  /** A firmware profile file cannot be used; the message names the file and the field. */
  'profile-invalid',
  // requests against stored things
  /** A name or value that breaks the rules (device id, user name, ticket command). */
  'invalid',
  'exists',
  'not-found',
  /** An operator acted on an older state of a ticket than the current one. */
  'superseded',
  /** The action would change nothing. */
  'not-changed',
  'bad-request',
  // writes to external systems
  /** The telemetry store could not be reached / failed / refused the write for good. */
  'store-unreachable',
  'store-server',
  'store-rejected',
  /** A ticket system call: retry later / outcome unknown / refused for good. */
  'sink-retry',
  'sink-unknown',
  'sink-fatal',
  // answers of the NOC HTTP API (noc/http.ts) that no code above says
  'unauthenticated',
  'forbidden',
  /** A state-changing request without the session's CSRF token. */
  'csrf',
  'method-not-allowed',
  'conflict',
  'too-large',
  'unsupported-media-type',
  'too-many-requests',
  'unavailable',
  'internal',
  /** Nothing more specific is known. */
  'error',
]);
export type FleetcareErrorCode = z.infer<typeof fleetcareErrorCode>;

export class FleetcareError<C extends FleetcareErrorCode = FleetcareErrorCode> extends Error {
  override name = 'FleetcareError';
  constructor(
    readonly code: C,
    message: string,
    /** Facts for logs and callers (`{ what, ms }` of a timeout); never secrets. */
    readonly context: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** `e` is a FleetcareError, of one of `codes` when given. */
export function isFleetcareError<C extends FleetcareErrorCode>(e: unknown, ...codes: C[]): e is FleetcareError<C> {
  return e instanceof FleetcareError && (codes.length === 0 || codes.includes(e.code as C));
}

/** No answer in time: our own deadlines, and the platform's `AbortSignal.timeout()`. */
export function isTimeout(e: unknown): e is Error {
  return isFleetcareError(e, 'timeout') || (e instanceof Error && e.name === 'TimeoutError');
}

/** A timeout for `what` after `ms`, with the message every deadline in fleetcare uses. */
export const timeoutError = (what: string, ms: number, message = `no reply to ${what} within ${ms} ms`) => new FleetcareError('timeout', message, { what, ms });

const WIRE_CODE = /^[a-z0-9][a-z0-9-]{0,63}$/;

/**
 * The code to publish for an error: a FleetcareError's code, else a system error's (`ENOENT` →
 * `enoent`, as serial ports and sockets report them), else `error`. Never a class name.
 */
export function errorCode(e: unknown): string {
  if (e instanceof FleetcareError) return e.code;
  const c = (e as { code?: unknown } | null)?.code;
  if (typeof c === 'string') {
    const s = c
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+/, '')
      .slice(0, 64);
    if (WIRE_CODE.test(s)) return s;
  }
  return 'error';
}
