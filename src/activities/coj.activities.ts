import { log } from '@temporalio/activity';
import type { AmqpPublisher } from '../adapters/amqp';
import type { TssStore, SyncOutcome } from '../adapters/tss-store';
import { cojAcknowledgedTotal, cojPublishesTotal, cojSubmissionToAcknowledgementSeconds, countSync } from '../adapters/metrics';
import type { WorkerReplies } from '../worker/worker-replies';
import type { WorkerSyncs } from '../worker/worker-syncs';
import { QUEUES, type Acknowledgement } from '../shared/amqp';
import { acknowledgesSignature, cojMessageId, type CojSignature, type CojSignedEvent } from '../shared/coj';

export interface CojDeps {
  amqp: AmqpPublisher;
  tssStore: TssStore;
  /** The worker's own reply queue and the publishes waiting on it; absent where no listener runs. */
  workerReplies?: WorkerReplies | undefined;
  /** The publishes waiting for TIS's sync back to TSS in this worker; absent where none may wait. */
  workerSyncs?: WorkerSyncs | undefined;
}

/**
 * What a publish returns: when; TIS's acknowledgement if it came while the publish waited for it in the
 * worker (reply mode: the reply; synced mode: the sync seen on TSS's profile); and, when a reply was "ok",
 * the syncedAt it then wrote (absent if the write failed: the workflow writes it then, with retries).
 */
export interface CojPublished {
  publishedAt: string;
  acknowledgement?: Acknowledgement;
  synced?: CojSynced;
}

export interface CojSynced {
  outcome: SyncOutcome;
  syncedAt: string;
}

/** How long the first publish may wait in the worker for TIS's acknowledgement, and when the submission began. */
export interface CojInWorkerWait {
  /** Epoch ms: the workflow's next resend or SLA deadline, whichever is first. */
  until: number;
  submissionStartedAt: string;
}

export function createCojActivities({ amqp, tssStore, workerReplies, workerSyncs }: CojDeps) {
  /** TIS acknowledged it: set syncedAt in TSS's store, as COJ_RECEIVED does today. */
  async function recordSynced(signature: CojSignature, submissionStartedAt: string): Promise<CojSynced> {
    const syncedAt = new Date();
    const outcome = await tssStore.recordSynced(signature, syncedAt);
    cojAcknowledgedTotal.inc({ outcome });
    cojSubmissionToAcknowledgementSeconds.observe((syncedAt.getTime() - Date.parse(submissionStartedAt)) / 1000);
    if (outcome === 'not-found') log.warn('no CoJ in the TSS store for this signature: syncedAt not written', { programmeMembershipTisId: signature.programmeMembershipTisId });
    return { outcome, syncedAt: syncedAt.toISOString() };
  }

  /** A reply taken in the worker: an "ok" has syncedAt recorded at once, so the workflow needs no activity for it. */
  async function withSyncedRecorded(signature: CojSignature, acknowledgement: Acknowledgement, submissionStartedAt: string): Promise<Pick<CojPublished, 'acknowledgement' | 'synced'>> {
    if (acknowledgement.status !== 'ok') return { acknowledgement };
    try {
      return { acknowledgement, synced: await recordSynced(signature, submissionStartedAt) };
    } catch (err) {
      // The publish and the reply stand; the workflow records syncedAt itself, with its retries.
      log.warn('recording syncedAt after the reply failed; the workflow will', { programmeMembershipTisId: signature.programmeMembershipTisId, error: (err as Error).message });
      return { acknowledgement };
    }
  }

  return {
    /**
     * Publishes the CoJ event in TSS's shape; resolves once the broker confirmed it. The message id is
     * the same for every resend of one signature, so TIS can recognise a duplicate; the correlation id is
     * the waiting workflow's id (where the acknowledgement listener sends TIS's reply, and how a message
     * dead-lettered by TCS finds its run).
     * `reply` given (reply mode): replyTo names this worker's reply queue, and the first publish of a
     * signature then waits a little for that reply in the worker (WorkerReplies). An "ok" that comes has
     * syncedAt recorded at once (one local activity per CoJ instead of two), and is returned with it.
     * `reply` absent (synced mode): the event asks for no reply (no replyTo), as TSS's own event did; with
     * `sync` given, the first publish waits a little for TIS's sync to show on TSS's profile (WorkerSyncs).
     * Either wait lasts at most the worker's configured one, and never past `until`, which the workflow
     * sets before its next resend and its SLA deadline, whose alert cannot fire while this waits. A resend
     * does not wait (TIS did not answer the first in time), nor does any publish while TIS seems stalled.
     * An acknowledgement that does not come here reaches the workflow as a signal.
     */
    async publishCojSigned(signature: CojSignature, workflowId: string, { resend, reply, sync }: { resend: boolean; reply?: CojInWorkerWait; sync?: CojInWorkerWait }): Promise<CojPublished> {
      const event: CojSignedEvent = {
        programmeMembershipTisId: signature.programmeMembershipTisId,
        conditionsOfJoining: { signedAt: signature.signedAt, version: signature.version, syncedAt: null },
      };
      const publishedAt = new Date().toISOString();
      const expected = resend
        ? undefined
        : reply
          ? workerReplies?.expect(workflowId, (a) => acknowledgesSignature(a, signature), reply.until)
          : sync && workerSyncs?.expect(workflowId, signature, sync.until);
      try {
        await amqp.publish(QUEUES.cojSigned, event, {
          messageId: cojMessageId(signature),
          correlationId: workflowId,
          ...(reply && { replyTo: workerReplies?.replyTo(QUEUES.acknowledgement) ?? QUEUES.acknowledgement }),
          type: 'coj.signed',
        });
      } catch (err) {
        expected?.cancel();
        cojPublishesTotal.inc({ result: 'failed', resend: String(resend) });
        throw err;
      }
      cojPublishesTotal.inc({ result: 'ok', resend: String(resend) });
      const acknowledgement = await expected?.answer();
      if (!acknowledgement) return { publishedAt };
      if (reply) return { publishedAt, ...(await withSyncedRecorded(signature, acknowledgement, reply.submissionStartedAt)) };
      if (sync) countSync({ path: 'in-worker', source: String(acknowledgement.result.source), startedAt: new Date(sync.submissionStartedAt) });
      return { publishedAt, acknowledgement };
    },

    recordCojSynced: recordSynced,
  };
}

export type CojActivities = ReturnType<typeof createCojActivities>;
