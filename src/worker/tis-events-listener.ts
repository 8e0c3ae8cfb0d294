/**
 * Synced mode's two optional sources beside the sync watcher's read of TSS's store, each a queue TIS
 * configures and names in our settings; every worker consumes them (competing consumers, like the
 * acknowledgement listener), and hands what it reads to the CoJ's run as an acknowledgement signal:
 *   - COJ_RECEIVED_QUEUE: TIS's `COJ_RECEIVED` events, forwarded: "ok" for the signature it names;
 *   - COJ_REJECTIONS_QUEUE: TCS's rejections, dead-lettered by the broker from TCS's queue (a dead-letter
 *     policy on it): the CoJ event we published, with its properties; "rejected" for that signature.
 * The run takes the first acknowledgement of its signature and ignores the rest, so the store and these
 * queues never act twice. A message for a run that has closed is dropped; one we cannot read is
 * dead-lettered with the reason (never lost, never a crash); the AMQP message is acked only after the
 * hand-over, so while Temporal is unreachable it goes back to the queue.
 */
import type { Client } from '@temporalio/client';
import type { ConsumeMessage } from 'amqplib';
import type { Logger } from '../config/logger';
import { readJsonMessage, startConsumer, type Consumer, type Outcome } from '../adapters/amqp-consumer';
import { handOverSync } from '../activities/coj-sync.activities';
import { signalAcknowledgement } from '../adapters/temporal';
import type { Acknowledgement } from '../shared/amqp';
import { cojWorkflowId } from '../shared/coj';
import { cojReceivedEvent, cojSignedEvent, describeIssues } from '../shared/messages';

export interface TisEventsOptions {
  amqpUrl: string;
  client: Client;
  log: Logger;
  connectionName: string;
  receivedQueue?: string | undefined;
  rejectionsQueue?: string | undefined;
}

export function startTisEventsListener(options: TisEventsOptions): Consumer | undefined {
  const log = options.log.child({ component: 'tis-events-listener' });
  const consumers: Consumer[] = [];
  const consume = (queue: string, connectionName: string, handle: (message: ConsumeMessage) => Promise<Outcome>): void => {
    // Declared plain and durable, as the topology's queues are: TIS may have made it already, with a policy.
    consumers.push(startConsumer({ url: options.amqpUrl, queue: { name: queue, options: { durable: true } }, connectionName, prefetch: 50, log, handle }));
  };
  if (options.receivedQueue) consume(options.receivedQueue, `${options.connectionName}:coj-received`, (m) => takeCojReceived(m, options.client, log));
  if (options.rejectionsQueue) consume(options.rejectionsQueue, `${options.connectionName}:tcs-rejections`, (m) => takeRejection(m, options.client, log));
  if (consumers.length === 0) return undefined;
  return {
    ready: Promise.all(consumers.map((c) => c.ready)).then(() => undefined),
    async stop() {
      await Promise.all(consumers.map((c) => c.stop()));
    },
  };
}

async function takeCojReceived(message: ConsumeMessage, client: Client, log: Logger): Promise<Outcome> {
  const read = readJsonMessage(message);
  const parsed = read.ok ? cojReceivedEvent.safeParse(read.body) : undefined;
  if (!read.ok || !parsed?.success) return { kind: 'dead-letter', reason: !read.ok ? read.reason : `not a COJ_RECEIVED event: ${describeIssues(parsed!.error!)}` };
  const { programmeMembershipTisId, conditionsOfJoining } = parsed.data;
  const run = { workflowId: cojWorkflowId(programmeMembershipTisId), programmeMembershipTisId, signedAt: conditionsOfJoining.signedAt };
  const taken = await handOverSync(client, run, conditionsOfJoining.syncedAt, 'coj-received');
  log.debug({ workflowId: run.workflowId, taken }, 'COJ_RECEIVED handed over');
  return { kind: 'done' };
}

async function takeRejection(message: ConsumeMessage, client: Client, log: Logger): Promise<Outcome> {
  const read = readJsonMessage(message);
  const parsed = read.ok ? cojSignedEvent.safeParse(read.body) : undefined;
  if (!read.ok || !parsed?.success) return { kind: 'dead-letter', reason: !read.ok ? read.reason : `not a CoJ event: ${describeIssues(parsed!.error!)}` };
  const { programmeMembershipTisId, conditionsOfJoining } = parsed.data;
  const from = deathOf(message);
  const reason = `TCS rejected the CoJ without requeue (dead-lettered${from ? ` from ${from}` : ''}): TCS rejects an unknown programme membership this way; see TCS's log for the cause`;
  const acknowledgement: Acknowledgement = { status: 'rejected', reason, result: { programmeMembershipTisId, signedAt: conditionsOfJoining.signedAt, source: 'tcs-rejections' } };
  const workflowId = cojWorkflowId(programmeMembershipTisId);
  if (!(await signalAcknowledgement(client, workflowId, acknowledgement))) log.info({ workflowId }, 'a rejection for a run that has closed: dropped');
  return { kind: 'done' };
}

/** The queue a dead-lettered message came from, from the broker's x-death header. */
function deathOf(message: ConsumeMessage): string | undefined {
  const deaths = message.properties.headers?.['x-death'] as Array<{ queue?: unknown }> | undefined;
  const queue = deaths?.[0]?.queue;
  return typeof queue === 'string' ? queue : Buffer.isBuffer(queue) ? queue.toString() : undefined;
}
