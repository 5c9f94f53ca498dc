// The queues of the broker (flood-safe-mq.ts's Deque, outgoing-index.ts's outgoing queue) are an
// array and a read index: taking from the front is O(1), and the dead front is dropped now and then.

/**
 * The array to go on with (read index 0) once the dead entries before `head` are worth dropping:
 * all of them once nothing is left, else once they are over 1024 and over half of the array
 * (amortised O(1)); null to keep `items` and `head` as they are (no allocation on the hot path).
 */
export function compactedFront<T>(items: T[], head: number): T[] | null {
  if (head === items.length) return [];
  if (head > 1024 && head * 2 > items.length) return items.slice(head);
  return null;
}
