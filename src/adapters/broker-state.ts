/**
 * What the broker says about the queues we depend on and about publishing, over AMQP alone (no management
 * plugin needed): `tisw stuck` joins it with run state, and the monitors watch it.
 */
import type { ChannelModel } from 'amqplib';
import { connectAmqp } from './amqp';

export interface QueueState {
  queue: string;
  /** Messages ready for delivery (not counting ones delivered and unacked). */
  ready: number;
  consumers: number;
  /** Set when the queue does not exist. */
  missing?: true;
}

export interface BrokerState {
  reachable: boolean;
  /** Why the broker blocks publishers (a memory or disk alarm), if it does. */
  blocked?: string;
  error?: string;
  queues: QueueState[];
}

/** Queue depths and consumers, and whether a publish is held back by an alarm (checked with one tiny publish). */
export async function readBrokerState(url: string, queues: readonly string[], probeQueue: string, timeoutMs = 3000): Promise<BrokerState> {
  let connection: ChannelModel | undefined;
  try {
    connection = await connectAmqp({ url, connectionName: 'tisw-broker-check', connectTimeoutMs: timeoutMs });
    const states: QueueState[] = [];
    for (const queue of queues) {
      // checkQueue closes its channel when the queue is missing, so each gets its own.
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      try {
        const { messageCount, consumerCount } = await channel.checkQueue(queue);
        states.push({ queue, ready: messageCount, consumers: consumerCount });
        await channel.close();
      } catch {
        states.push({ queue, ready: 0, consumers: 0, missing: true });
      }
    }
    const blocked = await publishHeldBack(connection, probeQueue, timeoutMs);
    return { reachable: true, queues: states, ...(blocked !== undefined && { blocked }) };
  } catch (err) {
    return { reachable: false, error: (err as Error).message, queues: [] };
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/**
 * RabbitMQ tells a connection it is blocked (connection.blocked, with the alarm) once it publishes during
 * an alarm; so publish one small expiring message and see whether a confirm or a block comes first.
 */
async function publishHeldBack(connection: ChannelModel, probeQueue: string, timeoutMs: number): Promise<string | undefined> {
  const channel = await connection.createConfirmChannel();
  return new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve('no confirm for a publish within the timeout'), timeoutMs);
    connection.once('blocked', (reason: string) => {
      clearTimeout(timer);
      resolve(reason || 'blocked');
    });
    channel.sendToQueue(probeQueue, Buffer.from('{}'), { expiration: '10000', contentType: 'application/json' }, (err: unknown) => {
      clearTimeout(timer);
      resolve(err ? 'the broker nacked a publish' : undefined);
    });
  });
}
