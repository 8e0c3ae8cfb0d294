/**
 * Publishes waiting, inside the worker process, for the answer that acknowledges them: the machinery shared
 * by TIS's replies (WorkerReplies, reply mode) and TIS's syncs back to TSS (WorkerSyncs, synced mode).
 *
 * Why wait here at all: handed over as a signal, every acknowledgement costs a call to Temporal and a
 * second workflow task (with its timer and a stage upsert) per CoJ. A first publish that waits a few
 * seconds in the worker and returns the acknowledgement with its result makes one workflow task per CoJ
 * on the common path (`tisw bench coj`, docs/benchmarks.md). Nothing depends on it: an answer that does not
 * come in time reaches the workflow by the signal path as before.
 *
 * What a wait holds: the workflow task of its run (the publish is a local activity), so waits must not pile
 * up for nothing. A wait that ends unanswered means TIS is down or slower than the wait: the waits are then
 * *stalled*, and new publishes do not wait, until an answer comes again (`offer`) or, where nothing else
 * would bring one (`probeWhileStalled`), until one publish at a time, waiting as a probe, gets its answer.
 */

/**
 * Publishes waiting at once in one worker, per kind. A waiting publish holds its workflow task, so the worker
 * has this many workflow-task slots beside the SDK's 40 for the tasks that work (worker.ts): never so many
 * polled tasks that, on a loaded machine, one waits past Temporal's 10 s task timeout for its turn.
 */
export const WAITS_AT_ONCE = 60;

export interface ExpectedAnswer<A> {
  /** Resolves with the answer, or with undefined when none came within the wait (or the wait was cancelled). */
  answer(): Promise<A | undefined>;
  /** Stops waiting (the publish failed). */
  cancel(): void;
}

interface Waiter<A, S> {
  subject: S;
  accepts(answer: A): boolean;
  settle(answer: A | undefined): void;
}

export interface InWorkerWaitsOptions {
  /** How long a publish waits for its answer, counted from the broker's confirm; 0: never. */
  waitMs: number;
  /** At most this many wait at once (each holds a workflow task: WAITS_AT_ONCE); the others do not wait. */
  maxWaiting?: number;
  /**
   * While stalled, let one publish at a time wait as a probe: for answers that come only to a waiter (a read
   * made for the waiting ones), where no late answer would ever end the stall.
   */
  probeWhileStalled?: boolean;
}

/** `A`: the answer; `S`: what a waiter is waiting about, for whoever looks for answers (`waiting()`). */
export class InWorkerWaits<A, S = undefined> {
  private readonly waiters = new Map<string, Waiter<A, S>>();
  private stalled = false;
  private readonly probes = new Set<Waiter<A, S>>();

  constructor(private readonly options: InWorkerWaitsOptions) {}

  /**
   * Registers a wait for the run `key` before publishing (TIS can answer before the broker's confirm arrives).
   * Returns undefined when this publish should not wait: waiting is off, stalled (and a probe already waits),
   * or `until` (epoch ms, the workflow's next resend or SLA deadline) has passed. `accepts` says which answer
   * is the awaited one (the same signature, not a late answer for an older).
   */
  expect(key: string, subject: S, accepts: (answer: A) => boolean, until = Infinity): ExpectedAnswer<A> | undefined {
    if (this.options.waitMs <= 0 || until <= Date.now() || this.waiters.size >= (this.options.maxWaiting ?? WAITS_AT_ONCE)) return undefined;
    const probing = this.stalled;
    if (probing && (!this.options.probeWhileStalled || this.probes.size > 0)) return undefined;
    // A run retried in this process (its workflow task timed out) replaces its earlier wait.
    this.waiters.get(key)?.settle(undefined);
    let timer: NodeJS.Timeout | undefined;
    let settleWith: (answer: A | undefined) => void = () => undefined;
    const settled = new Promise<A | undefined>((resolve) => (settleWith = resolve));
    const waiter: Waiter<A, S> = {
      subject,
      accepts,
      settle: (answer) => {
        if (this.waiters.get(key) === waiter) this.waiters.delete(key);
        this.probes.delete(waiter);
        clearTimeout(timer);
        settleWith(answer);
      },
    };
    this.waiters.set(key, waiter);
    if (probing) this.probes.add(waiter);
    return {
      answer: () => {
        if (this.waiters.get(key) === waiter) {
          timer = setTimeout(
            () => {
              this.stalled = true;
              waiter.settle(undefined);
            },
            Math.max(0, Math.min(this.options.waitMs, until - Date.now())),
          );
        }
        return settled;
      },
      cancel: () => waiter.settle(undefined),
    };
  }

  /**
   * Hands an answer to the publish waiting for it in this process; false if none waits for this one. An
   * answer taken ends a stall; so does any answer where no probe is used (a late reply: TIS is alive). With
   * probes, a late answer says nothing of whether the next would come in time.
   */
  offer(key: string, answer: A): boolean {
    if (!this.options.probeWhileStalled) this.stalled = false;
    const waiter = this.waiters.get(key);
    if (!waiter || !waiter.accepts(answer)) return false;
    this.stalled = false;
    waiter.settle(answer);
    return true;
  }

  /** The waits now, by run: what each is about. */
  *waiting(): IterableIterator<[key: string, subject: S]> {
    for (const [key, waiter] of this.waiters) yield [key, waiter.subject];
  }

  /** How many publishes wait now (tests: nothing is kept once settled). */
  get waitingCount(): number {
    return this.waiters.size;
  }

  /** Whether new publishes wait only as a probe (tests, logs). */
  get isStalled(): boolean {
    return this.stalled;
  }
}
