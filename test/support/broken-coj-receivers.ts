/**
 * Deliberately broken CoJ receivers, for `tisw conformance coj` to catch (test/conformance.test.ts). Each is
 * a small amqplib consumer on a queue of its own that honours the reply contract in every way but one, and
 * keeps its CoJs as the reference receiver does (TIS's programme membership documents, TisStore's layout),
 * so that the conformance run reads back what it stored:
 *   - stores-twice: writes the CoJ again on every delivery of the same signature (receivedAt moves, so
 *     TIS's sync would copy it to TSS again), still answering as before;
 *   - silent-on-unknown: takes a CoJ for an unknown programme membership and never answers it;
 *   - dies-on-bad-json: a body that is not JSON kills it (its connection drops, the message unacked, and
 *     it never comes back), as a consumer that lets JSON.parse throw does.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { connectAmqp } from '../../src/adapters/amqp';
import { MAX_MESSAGE_BYTES } from '../../src/adapters/amqp-consumer';
import type { TisStore } from '../../src/adapters/tis-store';
import { cojSignedEvent } from '../../src/shared/messages';

export const COJ_RECEIVER_FAULTS = ['stores-twice', 'silent-on-unknown', 'dies-on-bad-json'] as const;
export type CojReceiverFault = (typeof COJ_RECEIVER_FAULTS)[number];

export interface BrokenCojReceiver {
  queue: string;
  /** Whether it has died (dies-on-bad-json after a body that is not JSON). */
  readonly died: boolean;
  stop(): Promise<void>;
}

export async function startBrokenCojReceiver(fault: CojReceiverFault, options: { amqpUrl: string; tis: TisStore }): Promise<BrokenCojReceiver> {
  const queue = `tisw.test.conformance.${fault}.${process.pid}`;
  const connection: ChannelModel = await connectAmqp({ url: options.amqpUrl, connectionName: `broken-coj-receiver-${fault}` });
  const channel: Channel = await connection.createChannel();
  // Not auto-delete: the queue outlives its consumer's death, as a real receiver's does.
  await channel.assertQueue(queue, { durable: false });
  await channel.prefetch(1);
  let died = false;

  const reply = (m: ConsumeMessage, body: object): void => {
    const { replyTo, correlationId } = m.properties as { replyTo?: string; correlationId?: string };
    if (replyTo) channel.sendToQueue(replyTo, Buffer.from(JSON.stringify(body)), { ...(correlationId !== undefined && { correlationId }), contentType: 'application/json' });
  };
  const refuse = (m: ConsumeMessage, reason: string): void => {
    reply(m, { status: 'rejected', reason });
    channel.ack(m);
  };

  const handle = async (m: ConsumeMessage): Promise<void> => {
    if (m.content.length > MAX_MESSAGE_BYTES) return refuse(m, 'too big');
    if (m.properties.contentType !== 'application/json') return refuse(m, `content type ${String(m.properties.contentType)}`);
    let body: unknown;
    try {
      body = JSON.parse(m.content.toString('utf8'));
    } catch {
      if (fault !== 'dies-on-bad-json') return refuse(m, 'not JSON');
      died = true;
      await connection.close();
      return;
    }
    const parsed = cojSignedEvent.safeParse(body);
    if (!parsed.success) return refuse(m, 'not a CoJ event');
    const { programmeMembershipTisId: id, conditionsOfJoining } = parsed.data;
    const signedAt = new Date(conditionsOfJoining.signedAt);
    const doc = await options.tis.programmeMemberships.findOne({ _id: id });
    if (!doc) {
      if (fault === 'silent-on-unknown') return channel.ack(m);
      return refuse(m, `unknown programme membership ${id}`);
    }
    const stored = doc.conditionsOfJoining?.signedAt.getTime();
    const takes = stored === undefined || stored < signedAt.getTime() || (fault === 'stores-twice' && stored === signedAt.getTime());
    if (takes) await options.tis.programmeMemberships.updateOne({ _id: id }, { $set: { conditionsOfJoining: { signedAt, version: conditionsOfJoining.version, receivedAt: new Date() } } });
    reply(m, { status: 'ok', programmeMembershipTisId: id, signedAt: conditionsOfJoining.signedAt, version: conditionsOfJoining.version });
    channel.ack(m);
  };

  await channel.consume(queue, (m) => {
    if (m) void handle(m);
  });
  return {
    queue,
    get died() {
      return died;
    },
    async stop() {
      if (!died) await connection.close().catch(() => undefined);
      // Its leftovers (the message that killed it) go with the queue.
      const cleanup = await connectAmqp({ url: options.amqpUrl, connectionName: 'broken-coj-receiver-cleanup' });
      const ch = await cleanup.createChannel();
      await ch.deleteQueue(queue);
      await cleanup.close();
    },
  };
}
