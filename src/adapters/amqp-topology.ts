/**
 * Every queue tis-workflows uses, declared with the same arguments by every process that touches it
 * (RabbitMQ refuses a second declaration with different arguments, so this is the only place they live).
 */
import type { Channel } from 'amqplib';
import { deadLetterQueue, QUEUES } from '../shared/contract';

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

export async function declareTopology(channel: Channel): Promise<void> {
  for (const queue of TOPOLOGY) await channel.assertQueue(queue.name, queue.options);
}
