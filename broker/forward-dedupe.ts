// Which deliveries to a client are duplicates, replacing aedes' own check.
//
// aedes 1.2.0 (lib/client.js `dedupe`) keeps, per client and per broker node, the highest
// `brokerCounter` it forwarded, and drops any packet whose counter is not above it. The counter is
// taken when a publish starts, but publishes reach the mq in the order their persistence steps
// finish: a retained one waits for `storeRetained`, a QoS 1 one with persistent subscribers for
// `outgoingEnqueueCombi`. In memory those steps take a microtask; in Redis (cluster mode) a round
// trip, so the device's telemetry published just after its retained birth and inventory overtakes
// them, and every collector then drops the birth and inventory as "duplicates" — the device stays
// without site, tenant or printer profile and its faults are never ticketed (docs/cluster.md,
// "Lost births"). A command overtaken by an ack to the same agent was dropped the same way.
// Upstream: moscajs/aedes#955 (open), PR #972.
//
// What the check is for is a packet matching two overlapping subscriptions of one client
// (`a/#` and `a/b`): mqemitter calls both listeners one after the other for the same packet. So
// the high-water mark is switched off and an exact check takes its place: the same packet (node
// and counter) forwarded to the same client twice in a row.

type AedesClientInternals = { duplicates: Record<string, number> };
type Stamped = { brokerId?: string; brokerCounter?: number };

/** Reads as "nothing forwarded yet" for every node, keeps nothing: aedes' check always passes. */
const NO_HIGH_WATER_MARK: Record<string, number> = new Proxy(Object.create(null) as Record<string, number>, {
  get: () => undefined,
  set: () => true,
  deleteProperty: () => true,
});

const lastNode = Symbol('fleetcare.lastForwardedNode');
const lastCounter = Symbol('fleetcare.lastForwardedCounter');
type Tracked = { [lastNode]?: string; [lastCounter]?: number };

/** Called once per client, before anything is delivered to it. */
export function replaceHighWaterDedupe(client: object): void {
  (client as AedesClientInternals).duplicates = NO_HIGH_WATER_MARK;
}

/** True when `packet` is the very packet last forwarded to `client` (a second matching subscription). */
export function isRepeatedForward(client: object, packet: Stamped): boolean {
  const c = client as Tracked;
  const node = packet.brokerId;
  const counter = packet.brokerCounter;
  if (node === undefined || counter === undefined) return false;
  if (c[lastNode] === node && c[lastCounter] === counter) return true;
  c[lastNode] = node;
  c[lastCounter] = counter;
  return false;
}
