import { log } from '@temporalio/activity';
import type { AmqpPublisher } from '../adapters/amqp';
import type { TssStore, SyncOutcome } from '../adapters/tss-store';
import { cojLatency, cojPublishes, cojSynced } from '../adapters/metrics';
import { cojMessageId, QUEUES, type CojSignature, type CojSignedEvent } from '../shared/contract';

export interface CojDeps {
  amqp: AmqpPublisher;
  tssStore: TssStore;
}

export function createCojActivities({ amqp, tssStore }: CojDeps) {
  return {
    /**
     * Publishes the CoJ event in TSS's shape; resolves once the broker confirmed it. The message id is
     * the same for every resend of one signature, so TIS can recognise a duplicate; the correlation id is
     * the waiting workflow's id, where the acknowledgement listener sends TIS's reply.
     */
    async publishCojSigned(signature: CojSignature, workflowId: string, resend: boolean): Promise<string> {
      const event: CojSignedEvent = {
        programmeMembershipTisId: signature.programmeMembershipTisId,
        conditionsOfJoining: { signedAt: signature.signedAt, version: signature.version, syncedAt: null },
      };
      const publishedAt = new Date().toISOString();
      try {
        await amqp.publish(QUEUES.cojSigned, event, {
          messageId: cojMessageId(signature),
          correlationId: workflowId,
          replyTo: QUEUES.acknowledgement,
          type: 'coj.signed',
        });
      } catch (err) {
        cojPublishes.inc({ result: 'failed', resend: String(resend) });
        throw err;
      }
      cojPublishes.inc({ result: 'ok', resend: String(resend) });
      return publishedAt;
    },

    /** TIS acknowledged it: set syncedAt in TSS's store, as COJ_RECEIVED does today. */
    async recordCojSynced(signature: CojSignature, submissionStartedAt: string): Promise<{ outcome: SyncOutcome; syncedAt: string }> {
      const syncedAt = new Date();
      const outcome = await tssStore.recordSynced(signature, syncedAt);
      cojSynced.inc({ outcome });
      cojLatency.observe((syncedAt.getTime() - Date.parse(submissionStartedAt)) / 1000);
      if (outcome === 'not-found') log.warn('no CoJ in the TSS store for this signature: syncedAt not written', { programmeMembershipTisId: signature.programmeMembershipTisId });
      return { outcome, syncedAt: syncedAt.toISOString() };
    },
  };
}

export type CojActivities = ReturnType<typeof createCojActivities>;
