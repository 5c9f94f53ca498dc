// uvu 0.5 swallows an error thrown by a `before`/`after` hook (its runner returns from `finally`),
// so a file whose set-up failed reports "(0 / N)" and no reason. test/run.ts preloads this module
// (`--import`): the default suite's hooks print their error before uvu drops it.
import { test } from 'uvu';

type HookFn = Parameters<typeof test.before>[0];

function reporting(kind: string, register: (fn: HookFn) => void): (fn: HookFn) => void {
  return (fn) =>
    register(async (context) => {
      try {
        await fn(context);
      } catch (e) {
        console.error(`${kind} hook failed: ${(e as Error)?.stack ?? String(e)}`);
        throw e;
      }
    });
}

test.before = Object.assign(reporting('before', test.before), { each: reporting('before.each', test.before.each) });
test.after = Object.assign(reporting('after', test.after), { each: reporting('after.each', test.after.each) });
