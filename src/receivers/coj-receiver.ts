/**
 * The reference TIS CoJ receiver: stands for TIS-TCS and is the executable specification of the
 * acknowledgement contract for it (design.md). It consumes trainee.queue.coj.signed.tcs with manual acks
 * and a prefetch, and for each CoJ event:
 *   - not JSON, wrong content type, wrong shape: dead-lettered with the reason (and, where the message
 *     says where to reply, a rejection reply, so the sender stops resending);
 *   - unknown programme membership: where the message asks for a reply, a rejection reply; where it does not
 *     (synced mode, TSS's own event), rejected without requeue, exactly as TCS does: the broker drops it, or
 *     dead-letters it where TCS's queue has a dead-letter policy (the local stack sets one), and the sync
 *     watcher's rejections listener ends the run `rejected`;
 *   - otherwise: upserted keyed by programme membership (a resend changes nothing), then, where asked, the
 *     reply `{ status: "ok", programmeMembershipTisId, signedAt, version }` to replyTo with the same
 *     correlationId (in synced mode no reply: TIS's sync back to TSS acknowledges it, src/receivers/tis-sync.ts);
 *   - a database error: not acknowledged, so the message comes back.
 * The AMQP message is acked only after the reply was confirmed by the broker.
 */
import type { ConsumeMessage } from 'amqplib';
import type { Logger } from '../config/logger';
import type { StoreResult, TisStore } from '../adapters/tis-store';
import { readJsonMessage, startConsumer, type Consumer, type ConsumerContext, type Outcome } from '../adapters/amqp-consumer';
import { QUEUES } from '../shared/amqp';
import { type CojReceivedReply } from '../shared/coj';
import { cojSignedEvent, describeIssues } from '../shared/messages';

export interface CojReceiverOptions {
  amqpUrl: string;
  tisStore: TisStore;
  log: Logger;
  /** @default 20 */
  prefetch?: number;
  connectionName?: string;
  /** Told of each CoJ it stored or updated, with what the store said (the reference TIS sync's push, as change data capture would push the change). */
  onStored?: (programmeMembershipTisId: string, result: StoreResult) => void;
}

export function startCojReceiver(options: CojReceiverOptions): Consumer {
  const log = options.log.child({ component: 'coj-receiver' });
  return startConsumer({
    url: options.amqpUrl,
    queue: QUEUES.cojSigned,
    connectionName: options.connectionName ?? 'tisw-coj-receiver',
    prefetch: options.prefetch ?? 20,
    log,
    handle: (message, context) => receive(message, context, options, log),
  });
}

async function receive(message: ConsumeMessage, context: ConsumerContext, { tisStore: tis, onStored }: CojReceiverOptions, log: Logger): Promise<Outcome> {
  const read = readJsonMessage(message);
  const parsed = read.ok ? cojSignedEvent.safeParse(read.body) : undefined;
  if (!read.ok || !parsed?.success) {
    const reason = !read.ok ? read.reason : `not a CoJ event: ${describeIssues(parsed!.error!)}`;
    await replyIfAsked(message, context, { status: 'rejected', reason });
    return { kind: 'dead-letter', reason };
  }
  const { programmeMembershipTisId, conditionsOfJoining } = parsed.data;
  const result = await tis.storeCoj(programmeMembershipTisId, new Date(conditionsOfJoining.signedAt), conditionsOfJoining.version);
  const { outcome } = result;
  if (outcome === 'unknown-programme-membership') {
    log.info({ programmeMembershipTisId }, 'CoJ for an unknown programme membership: rejected');
    const reason = `unknown programme membership ${programmeMembershipTisId}`;
    if (!asksForReply(message)) return { kind: 'reject', reason };
    await replyIfAsked(message, context, {
      status: 'rejected',
      reason,
      programmeMembershipTisId,
      signedAt: conditionsOfJoining.signedAt,
    });
    return { kind: 'done' };
  }
  log.debug({ programmeMembershipTisId, outcome }, 'CoJ stored');
  if (outcome === 'inserted' || outcome === 'updated') onStored?.(programmeMembershipTisId, result);
  const body: CojReceivedReply & { status: 'ok' } = { status: 'ok', programmeMembershipTisId, signedAt: conditionsOfJoining.signedAt, version: conditionsOfJoining.version };
  await replyIfAsked(message, context, body);
  return { kind: 'done' };
}

/** TSS's own events, and ours in synced mode, name no replyTo: nothing is sent back. */
function asksForReply(message: ConsumeMessage): boolean {
  const { replyTo, correlationId } = message.properties as { replyTo?: string; correlationId?: string };
  return Boolean(replyTo && correlationId);
}

async function replyIfAsked(message: ConsumeMessage, context: ConsumerContext, body: object): Promise<void> {
  if (!asksForReply(message)) return;
  const { replyTo, correlationId } = message.properties as { replyTo: string; correlationId: string };
  await context.publish(replyTo, body, { correlationId, type: 'coj.received' });
}
