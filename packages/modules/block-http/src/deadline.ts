/**
 * The overall time limit of one request, as curl's CURLOPT_TIMEOUT (which QEMU's curl driver sets
 * from its `timeout` option): connecting, waiting for the answer and receiving the whole body
 * must all fit in it. A server that trickles a byte every few seconds never trips a timeout on
 * pauses, so this is what bounds a read.
 */
export class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout>;
  /** Whether the time ran out (the request was aborted for it). */
  expired = false;

  constructor(readonly ms: number) {
    this.timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort(Object.assign(new Error(`the request took longer than ${ms / 1000} s`), { code: 'HTTP_DEADLINE' }));
    }, ms);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Stop the clock (the request finished, or failed for another reason). */
  clear(): void {
    clearTimeout(this.timer);
  }
}

/** Run one request under a deadline of `ms`, cleared however it ends. */
export async function withDeadline<T>(ms: number, run: (deadline: Deadline) => Promise<T>): Promise<T> {
  const deadline = new Deadline(ms);
  try {
    return await run(deadline);
  } finally {
    deadline.clear();
  }
}
