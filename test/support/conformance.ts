/** What the conformance tests of both jobs check alike. */
import type { GetMessage } from 'amqplib';
import { connectAmqp } from '../../src/adapters/amqp';
import { CONFORMANCE_HEADER } from '../../src/client/conformance';
import { deadLetterQueue } from '../../src/shared/amqp';

/**
 * After a conformance run against a reference receiver, which dead-letters each malformed message besides
 * rejecting it: none of the run's messages is left on the receiver's dead-letter queue (the run took its
 * own back), and the run's private reply queue is gone.
 */
export async function expectConformanceLeftNothing(amqpUrl: string, receiverQueue: string, runId: string): Promise<void> {
  const connection = await connectAmqp({ url: amqpUrl, connectionName: 'test' });
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    const deadLetters: GetMessage[] = [];
    for (let m = await channel.get(deadLetterQueue(receiverQueue)); m; m = await channel.get(deadLetterQueue(receiverQueue))) deadLetters.push(m);
    channel.nackAll(true);
    expect(deadLetters.filter((m) => m.properties.headers?.[CONFORMANCE_HEADER] === runId)).toEqual([]);
    await expect(channel.checkQueue(`tisw.queue.conformance.reply.${runId}`)).rejects.toThrow(/NOT_FOUND/);
  } finally {
    await connection.close();
  }
}
