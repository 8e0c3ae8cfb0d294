/**
 * TIS's replies to the CoJs this worker published (reply mode), handed over inside the worker process
 * (why: in-worker-waits.ts). The common case is that TIS answers within milliseconds.
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
import { InWorkerWaits, type ExpectedAnswer } from './in-worker-waits';

export class WorkerReplies {
  /** A late reply (one nobody here waits for any more) still ends a stall: TIS is alive. */
  private readonly waits: InWorkerWaits<Acknowledgement>;
  /** Set once the listener consumes `queue`: until then replies must go to the shared queue. */
  private listening = false;

  constructor(
    /** This worker's own reply queue (workerReplyQueue). */
    readonly queueSpec: QueueSpec,
    /** How long the first publish of a signature waits for its reply (COJ_REPLY_WAIT_SECONDS); 0: never. */
    waitMs: number,
  ) {
    this.waits = new InWorkerWaits({ waitMs });
  }

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

  /** Registers before publishing (InWorkerWaits.expect); no wait before the listener consumes `queue`. */
  expect(correlationId: string, accepts: (acknowledgement: Acknowledgement) => boolean, until = Infinity): ExpectedAnswer<Acknowledgement> | undefined {
    return this.listening ? this.waits.expect(correlationId, undefined, accepts, until) : undefined;
  }

  /** Hands a reply to the publish waiting for it in this process; false if none waits for this one. */
  offer(correlationId: string, acknowledgement: Acknowledgement): boolean {
    return this.waits.offer(correlationId, acknowledgement);
  }

  /** How many publishes wait now (tests: nothing is kept once settled). */
  get waitingCount(): number {
    return this.waits.waitingCount;
  }
}
