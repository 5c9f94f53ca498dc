// Test rigs: a simulated device and the agent's driver for it (over a socat PTY pair or loopback
// TCP), closed together in the right order; `using` closes whatever a test set up however it ends.

export type Closable = { close(): Promise<void> | void };

/** Runs `body` with `resource` and closes it afterwards, whether the body passed or threw. */
export async function using<R extends Closable, T>(resource: R | Promise<R>, body: (r: R) => Promise<T>): Promise<T> {
  const r = await resource;
  try {
    return await body(r);
  } finally {
    await r.close();
  }
}

type DriverRig = Closable & { driver: { open(signal: AbortSignal): Promise<unknown> } };

/** `using` a driver rig whose driver is opened first: where most driver tests start. */
export function usingOpened<R extends DriverRig>(rig: Promise<R>, body: (r: R) => Promise<void>): Promise<void> {
  return using(rig, async (r) => {
    await r.driver.open(AbortSignal.timeout(10_000));
    await body(r);
  });
}

/**
 * The simulated device under `name` (r.printer, r.reader, …) and the driver talking to it; close()
 * closes the driver, then the device, then `links` (the PTY pairs) in order.
 */
export function driverRig<K extends string, S extends Closable, D extends Closable>(
  name: K,
  device: S,
  driver: D,
  ...links: Array<Closable | null | undefined>
): Record<K, S> & { driver: D; close(): Promise<void> } {
  const rig = {
    driver,
    async close() {
      await driver.close();
      await device.close();
      for (const l of links) await l?.close();
    },
  };
  return Object.assign(rig, { [name]: device } as Record<K, S>);
}

/** Registers `resource` to be closed by `close` when the test ends; returns the resource. */
export type Later = <R>(resource: R, close: (r: R) => unknown) => R;

/**
 * Runs `body`, then closes everything it registered with `later`, last first, whether the body
 * passed or threw: `const broker = later(await TestBroker.create(), (b) => b.stop())`.
 */
export async function withTeardown<T>(body: (later: Later) => Promise<T>): Promise<T> {
  const closers: Array<() => unknown> = [];
  const later: Later = (resource, close) => {
    closers.push(() => close(resource));
    return resource;
  };
  try {
    return await body(later);
  } finally {
    for (const close of closers.reverse()) await close();
  }
}
