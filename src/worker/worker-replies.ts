/**
 * TIS's replies to the CoJs this worker published, handed over inside the worker process.
 *
 * Why: the common case is that TIS answers within milliseconds. Handed over as a signal, every reply costs
 * a call to Temporal and a second workflow task (with its timer and a stage upsert) per CoJ. Instead the
 * first publish of a signature waits a few seconds, in the worker, for its reply, and returns it to the
 * workflow with the publish's result: one workflow task per CoJ on the common path (`tisw bench coj`,
 * README "Benchmarks").
 *
 * How the reply finds its way back here: a CoJ is published with `replyTo` naming this worker's own reply
 * queue (workerReplyQueue, declared and consumed by the acknowledgement listener). A reply nobody here
 * waits for any more (it came late, it is for a resend) is signalled to its workflow, as before. Nothing
 * depends on this path: a reply this worker never takes (it died, it is too busy) moves after a few
 * seconds to the shared acknowledgement queue, which every worker consumes; and a reply lost outright is
 * answered by the workflow's resend.
 */
import type { QueueSpec } from '../adapters/amqp-topology';
import type { Acknowledgement } from '../shared/amqp';

export interface ExpectedReply {
  /** Resolves with the reply, or with undefined when none came within the wait (or the wait was cancelled). */
  reply(): Promise<Acknowledgement | undefined>;
  /** Stops waiting (the publish failed). */
  cancel(): void;
}

interface Waiter {
  accepts(acknowledgement: Acknowledgement): boolean;
  settle(acknowledgement: Acknowledgement | undefined): void;
}

export class WorkerReplies {
  private readonly waiting = new Map<string, Waiter>();
  /**
   * A wait ended without its reply and no reply has come since: TIS is down or far behind. New publishes
   * then do not wait (each wait would hold a workflow task for nothing) until a reply arrives again.
   */
  private stalled = false;
  /** Set once the listener consumes `queue`: until then replies must go to the shared queue. */
  private listening = false;

  constructor(
    /** This worker's own reply queue (workerReplyQueue). */
    readonly queueSpec: QueueSpec,
    /** How long the first publish of a signature waits for its reply; 0: never. */
    private readonly waitMs: number,
  ) {}

  get queue(): string {
    return this.queueSpec.name;
  }

  /** The listener consumes `queue` now. */
  markListening(): void {
    this.listening = true;
  }

  /** Where a publish asks TIS to reply: here once the listener consumes it, else the shared queue. */
  replyTo(shared: string): string {
    return this.listening ? this.queue : shared;
  }

  /**
   * Registers before publishing (TIS can answer before the broker's confirm arrives). Returns undefined
   * when this publish should not wait: waiting is off, the listener is not consuming yet, or TIS stalled.
   * `accepts` says which reply is the awaited one (the same signature, not a late reply for an older).
   * The wait, counted from the publish's confirm, is the configured one but ends by `until` (epoch ms).
   */
  expect(correlationId: string, accepts: (acknowledgement: Acknowledgement) => boolean, until = Infinity): ExpectedReply | undefined {
    if (this.waitMs <= 0 || !this.listening || this.stalled || until <= Date.now()) return undefined;
    // A run retried in this process (its workflow task timed out) replaces its earlier wait.
    this.waiting.get(correlationId)?.settle(undefined);
    let timer: NodeJS.Timeout | undefined;
    let settleWith: (acknowledgement: Acknowledgement | undefined) => void = () => undefined;
    const settled = new Promise<Acknowledgement | undefined>((resolve) => (settleWith = resolve));
    const waiter: Waiter = {
      accepts,
      settle: (acknowledgement) => {
        if (this.waiting.get(correlationId) === waiter) this.waiting.delete(correlationId);
        clearTimeout(timer);
        settleWith(acknowledgement);
      },
    };
    this.waiting.set(correlationId, waiter);
    return {
      reply: () => {
        if (this.waiting.get(correlationId) === waiter) {
          timer = setTimeout(
            () => {
              this.stalled = true;
              waiter.settle(undefined);
            },
            Math.max(0, Math.min(this.waitMs, until - Date.now())),
          );
        }
        return settled;
      },
      cancel: () => waiter.settle(undefined),
    };
  }

  /** Hands a reply to the publish waiting for it in this process; false if none waits for this one. */
  offer(correlationId: string, acknowledgement: Acknowledgement): boolean {
    this.stalled = false;
    const waiter = this.waiting.get(correlationId);
    if (!waiter || !waiter.accepts(acknowledgement)) return false;
    waiter.settle(acknowledgement);
    return true;
  }

  /** How many publishes wait now (tests: nothing is kept once settled). */
  get waitingCount(): number {
    return this.waiting.size;
  }
}
