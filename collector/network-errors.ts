// Socket errors that mean "the other end is gone or unreachable" — a broker node or InfluxDB that
// died, restarted or is not up yet. The clients reconnect or retry by themselves, so these are
// warnings about a dependency, not errors in the collector.
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ETIMEDOUT']);

export function isNetworkError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NETWORK_CODES.has(code);
}
