/**
 * Every queue tis-workflows uses, declared with the same arguments by every process that touches it
 * (RabbitMQ refuses a second declaration with different arguments, so this is the only place they live).
 */
import type { Channel } from 'amqplib';
import { QUEUES } from '../shared/contract';

export interface QueueSpec {
  name: string;
  options: { durable: boolean; arguments?: Record<string, unknown> };
}

export const TOPOLOGY: readonly QueueSpec[] = [{ name: QUEUES.probe, options: { durable: true } }];

export async function declareTopology(channel: Channel): Promise<void> {
  for (const queue of TOPOLOGY) await channel.assertQueue(queue.name, queue.options);
}
