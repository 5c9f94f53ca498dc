// The stream splitters of the serial codecs report bytes that no frame rule takes as garbage,
// one frame per unbroken run, so a burst of line noise is counted once and scanning
// resynchronises at the next byte. Pure (no I/O): the simulators and tests use the codecs too.

export type GarbageFrame = { type: 'garbage'; bytes: Uint8Array };

/** Collects the garbage runs of one scan of `buf` into `frames`, in order with the real frames. */
export function garbageRuns<F>(buf: Uint8Array, frames: Array<F | GarbageFrame>) {
  let start = -1;
  const flush = (end: number) => {
    if (start >= 0 && end > start) frames.push({ type: 'garbage', bytes: buf.slice(start, end) });
    start = -1;
  };
  return {
    /** Byte `i` is garbage: it opens a run, or extends the open one. */
    mark(i: number): void {
      if (start < 0) start = i;
    },
    /** A frame starts at `end`: the open run (if any) ends before it. */
    flush,
    /** The scan's result: bytes from `restFrom` on are an incomplete frame kept for the next chunk. */
    result(restFrom = buf.length): { frames: Array<F | GarbageFrame>; rest: Uint8Array } {
      flush(restFrom);
      return { frames, rest: restFrom < buf.length ? buf.slice(restFrom) : new Uint8Array(0) };
    },
  };
}
