import { log } from '@temporalio/activity';
import type { AmqpPublisher } from '../adapters/amqp';
import type { TssStore, SyncOutcome } from '../adapters/tss-store';
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
    async publishCojSigned(signature: CojSignature, workflowId: string): Promise<string> {
      const event: CojSignedEvent = {
        programmeMembershipTisId: signature.programmeMembershipTisId,
        conditionsOfJoining: { signedAt: signature.signedAt, version: signature.version, syncedAt: null },
      };
      const publishedAt = new Date().toISOString();
      await amqp.publish(QUEUES.cojSigned, event, {
        messageId: cojMessageId(signature),
        correlationId: workflowId,
        replyTo: QUEUES.acknowledgement,
        type: 'coj.signed',
      });
      return publishedAt;
    },

    /** TIS acknowledged it: set syncedAt in TSS's store, as COJ_RECEIVED does today. */
    async recordCojSynced(signature: CojSignature): Promise<{ outcome: SyncOutcome; syncedAt: string }> {
      const syncedAt = new Date();
      const outcome = await tssStore.recordSynced(signature, syncedAt);
      if (outcome === 'not-found') log.warn('no CoJ in the TSS store for this signature: syncedAt not written', { programmeMembershipTisId: signature.programmeMembershipTisId });
      return { outcome, syncedAt: syncedAt.toISOString() };
    },
  };
}

export type CojActivities = ReturnType<typeof createCojActivities>;
