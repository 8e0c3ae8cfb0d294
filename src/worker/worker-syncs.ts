/**
 * TIS's syncs back to TSS of the CoJs this worker published (synced mode), handed over inside the worker
 * process (why: in-worker-waits.ts): the synced-mode counterpart of WorkerReplies, for a TIS whose sync is
 * quick (seconds).
 *
 * How a sync is seen here: while any first publish waits, this worker reads TSS's profiles of the waiting
 * CoJs' trainees every POLL_MS, as the sync watcher does (`TssStore.syncedAmong`), never a read per CoJ; a profile that shows the awaited signature synced (`showsSynced`) ends that wait. No
 * read is made while nothing waits. TIS's syncs usually take longer than the wait (minutes): the waits then
 * stall (one probe at a time still waits, and ends the stall once it is answered) and the runs wait for the
 * cluster's sync watcher instead, which takes every CoJ this path does not.
 */
import type { Logger } from '../config/logger';
import type { AwaitedSync, TssStore } from '../adapters/tss-store';
import type { Acknowledgement } from '../shared/amqp';
import { acknowledgesSignature, syncedAcknowledgement, type CojSignature } from '../shared/coj';
import { InWorkerWaits, type ExpectedAnswer } from './in-worker-waits';

/** How often TSS's store is read while publishes wait: a sync shows here at most this long after it lands. */
const POLL_MS = 500;
type Awaited = AwaitedSync & { workflowId: string };

export class WorkerSyncs {
  private readonly waits: InWorkerWaits<Acknowledgement, Awaited>;
  private polling: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly tssStore: TssStore,
    /** How long the first publish of a signature waits for its sync (COJ_SYNC_WAIT_SECONDS); 0: never. */
    waitMs: number,
    private readonly log: Logger,
    private readonly pollMs = POLL_MS,
  ) {
    // Nothing but this worker's own reads answers these waits, so a stall is ended by a probe.
    this.waits = new InWorkerWaits({ waitMs, probeWhileStalled: true });
  }

  /** Registers run `workflowId`'s wait for `signature`'s sync, before it is published (InWorkerWaits.expect). */
  expect(workflowId: string, signature: CojSignature, until = Infinity): ExpectedAnswer<Acknowledgement> | undefined {
    if (this.stopped) return undefined;
    const awaited: Awaited = { workflowId, traineeTisId: signature.traineeTisId, programmeMembershipTisId: signature.programmeMembershipTisId, signedAt: signature.signedAt };
    const expected = this.waits.expect(workflowId, awaited, (a) => acknowledgesSignature(a, signature), until);
    if (expected) this.polling ??= this.poll().finally(() => (this.polling = undefined));
    return expected;
  }

  /** Stops reading (the worker shuts down); the waits end with their timers. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.polling;
  }

  get waitingCount(): number {
    return this.waits.waitingCount;
  }

  /** Reads for the waiting CoJs every pollMs while any wait; ends when none does. */
  private async poll(): Promise<void> {
    while (!this.stopped && this.waits.waitingCount > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.pollMs));
      try {
        await this.readOnce();
      } catch (err) {
        // The waits end with their timers and the runs go on by the watcher: nothing is lost by a failed read.
        this.log.warn({ err: (err as Error).message }, 'reading TSS for the CoJs waiting in this worker failed; reading again');
      }
    }
  }

  private async readOnce(): Promise<void> {
    const { synced } = await this.tssStore.syncedAmong([...this.waits.waiting()].map(([, awaited]) => awaited));
    for (const { awaited, syncedAt } of synced) this.waits.offer(awaited.workflowId, syncedAcknowledgement(awaited, syncedAt, 'tss-store'));
  }
}
