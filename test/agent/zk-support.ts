// uvu has no assert.rejects: this one awaits `fn`, requires a rejection and matches its message.
import * as assert from 'uvu/assert';

export async function rejects(fn: () => Promise<unknown>, pattern?: RegExp): Promise<Error> {
  let value: unknown;
  try {
    value = await fn();
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    if (pattern) assert.match(err.message, pattern);
    return err;
  }
  assert.unreachable(`expected a rejection, got ${JSON.stringify(value)?.slice(0, 200)}`);
  throw new Error('unreachable');
}
