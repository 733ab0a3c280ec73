/**
 * The gradient exchange of data-parallel training: N workers, one SharedArrayBuffer. Each worker
 * writes its contribution into its own slot; after a barrier, worker i sums its 1/N of the vector
 * over the slots in slot order (a reduce-scatter) into the shared result; after a second barrier
 * every worker reads the whole sum. The order of the additions is fixed by the slot index, never
 * by which worker came first, so a run is bit-reproducible for a given N and seed.
 *
 * Written by hand: no npm package reduces into shared memory between worker_threads, and the
 * whole mechanism is two barriers and a loop. Waiting uses Atomics.wait in slices of a second,
 * so a worker notices when the coordinator aborts the run (a worker died) instead of waiting for
 * a peer that will never arrive.
 */

/** Int32 control words: arrivals at the barrier, its generation, and the abort flag. */
const ARRIVED = 0, GENERATION = 1, ABORTED = 2, CONTROL_WORDS = 3;

export interface AllReduceBuffers {
  /** CONTROL_WORDS Int32 words. */
  control: SharedArrayBuffer;
  /** (workers + 1) × length float32: one slot per worker, then the result. */
  data: SharedArrayBuffer;
  workers: number;
  length: number;
}

export function allocateAllReduce(workers: number, length: number): AllReduceBuffers {
  return {
    control: new SharedArrayBuffer(CONTROL_WORDS * 4),
    data: new SharedArrayBuffer((workers + 1) * length * 4),
    workers, length,
  };
}

/** Thrown in a worker when the run was aborted while it waited for its peers. */
export class AbortedError extends Error {
  constructor() {
    super('aborted: another worker failed');
    this.name = 'AbortedError';
  }
}

/** Sets the abort flag and wakes every waiting worker (the coordinator's side). */
export function abortAllReduce(buffers: AllReduceBuffers): void {
  const control = new Int32Array(buffers.control);
  Atomics.store(control, ABORTED, 1);
  Atomics.add(control, GENERATION, 1);
  Atomics.notify(control, GENERATION);
}

export class AllReduce {
  private readonly control: Int32Array;
  private readonly slots: Float32Array[];
  private readonly result: Float32Array;
  private readonly lo: number;
  private readonly hi: number;
  /** Milliseconds spent waiting at barriers and summing, since construction (bench:train-profile reads them). */
  readonly time = { waitMs: 0, sumMs: 0, calls: 0 };

  constructor(readonly buffers: AllReduceBuffers, readonly rank: number) {
    const { workers, length } = buffers;
    this.control = new Int32Array(buffers.control);
    this.slots = Array.from({ length: workers }, (_, i) => new Float32Array(buffers.data, i * length * 4, length));
    this.result = new Float32Array(buffers.data, workers * length * 4, length);
    const chunk = Math.ceil(length / workers);
    this.lo = Math.min(length, rank * chunk);
    this.hi = Math.min(length, this.lo + chunk);
  }

  /** This worker's slot: write the contribution here, then call `sum()`. */
  get slot(): Float32Array {
    return this.slots[this.rank]!;
  }

  /**
   * The sum over all workers of the first `n` floats of their slots (every worker must call it
   * with the same n). The returned view is valid until the next call.
   */
  sum(n = this.buffers.length): Float32Array {
    const workers = this.buffers.workers;
    if (workers === 1) return this.slot.subarray(0, n);
    this.timedBarrier();
    const t0 = performance.now();
    const lo = Math.min(n, this.lo), hi = Math.min(n, this.hi);
    const slots = this.slots, out = this.result;
    for (let j = lo; j < hi; j++) {
      let s = slots[0]![j]!;
      for (let k = 1; k < workers; k++) s += slots[k]![j]!;
      out[j] = s;
    }
    this.time.sumMs += performance.now() - t0;
    this.time.calls++;
    this.timedBarrier();
    return out.subarray(0, n);
  }

  private timedBarrier(): void {
    const t0 = performance.now();
    this.barrier();
    this.time.waitMs += performance.now() - t0;
  }

  /** Returns when every worker has arrived; throws AbortedError when the run is aborted. */
  barrier(): void {
    const c = this.control;
    if (Atomics.load(c, ABORTED)) throw new AbortedError();
    const generation = Atomics.load(c, GENERATION);
    if (Atomics.add(c, ARRIVED, 1) === this.buffers.workers - 1) {
      Atomics.store(c, ARRIVED, 0);
      Atomics.add(c, GENERATION, 1);
      Atomics.notify(c, GENERATION);
      return;
    }
    while (Atomics.load(c, GENERATION) === generation) Atomics.wait(c, GENERATION, generation, 1000);
    if (Atomics.load(c, ABORTED)) throw new AbortedError();
  }
}
