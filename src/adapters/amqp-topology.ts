/**
 * Every queue tis-workflows uses, declared with the same arguments by every process that touches it
 * (RabbitMQ refuses a second declaration with different arguments, so this is the only place they live).
 */
import type { Channel } from 'amqplib';
import { deadLetterQueue, QUEUES } from '../shared/amqp';

export interface QueueSpec {
  name: string;
  options: { durable: boolean; arguments?: Record<string, unknown> };
}

/**
 * Plain durable queues, no arguments: TIS's existing queues (the CoJ and ESR ones) may already exist,
 * and a declaration whose arguments differ from theirs would close the channel. Dead-lettering is done
 * by the consumer, explicitly, so that the reason travels with the message.
 */
const consumed = [QUEUES.cojSigned, QUEUES.esrAppFileCommand, QUEUES.acknowledgement];
export const TOPOLOGY: readonly QueueSpec[] = [
  { name: QUEUES.probe, options: { durable: true } },
  // Holds at most a few check messages: they only need to be accepted, never read.
  { name: QUEUES.brokerCheck, options: { durable: false, arguments: { 'x-max-length': 10 } } },
  ...consumed.flatMap((name) => [
    { name, options: { durable: true } },
    { name: deadLetterQueue(name), options: { durable: true } },
  ]),
];

/**
 * COJ_RECEIVED_QUEUE, where TIS's COJ_RECEIVED events are forwarded (the reference TIS sync publishes there,
 * the sync watcher consumes): a plain durable queue, like TIS's own, since it may already exist.
 */
export function cojReceivedQueue(name: string): QueueSpec {
  return { name, options: { durable: true } };
}

/** How long a reply waits in a worker's own queue before it moves to the shared acknowledgement queue. */
export const WORKER_REPLY_TTL_MS = 10_000;
/** A worker's reply queue that nobody consumed for this long is removed by the broker (the worker is gone). */
export const WORKER_REPLY_QUEUE_EXPIRES_MS = 30 * 60_000;

/**
 * A worker's own reply queue (WorkerReplies): the CoJs it publishes name it in `replyTo`, so that their
 * replies come back to the process whose publish waits for them. A reply not taken within
 * WORKER_REPLY_TTL_MS (the worker died, or is far behind) is dead-lettered by the broker into the shared
 * acknowledgement queue, where any worker takes it; the queue of a worker gone for good expires.
 */
export function workerReplyQueue(instance: string): QueueSpec {
  return {
    name: `${QUEUES.acknowledgement}.worker.${instance}`,
    options: {
      durable: true,
      arguments: {
        'x-message-ttl': WORKER_REPLY_TTL_MS,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': QUEUES.acknowledgement,
        'x-expires': WORKER_REPLY_QUEUE_EXPIRES_MS,
      },
    },
  };
}

export async function declareTopology(channel: Channel): Promise<void> {
  for (const queue of TOPOLOGY) await channel.assertQueue(queue.name, queue.options);
}
