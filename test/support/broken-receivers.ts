/**
 * The frame of a deliberately broken receiver for `tisw conformance` to catch (broken-coj-receivers.ts,
 * broken-esr-exporters.ts): a small amqplib consumer on a queue of its own that honours the reply contract
 * in all it does here (too big, wrong content type, not JSON: a "rejected" reply) but for what its job's
 * handler gets wrong, and, where asked, dies on a body that is not JSON (its connection drops, the message
 * unacked, and it never comes back), as a consumer that lets JSON.parse throw does. None dead-letters
 * anything: what it cannot take gets a "rejected" reply only.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { connectAmqp } from '../../src/adapters/amqp';
import { MAX_MESSAGE_BYTES } from '../../src/adapters/amqp-consumer';

export interface BrokenReceiver {
  queue: string;
  /** Whether it has died (on a body that is not JSON, where it dies of that). */
  readonly died: boolean;
  stop(): Promise<void>;
}

/** How a handler answers the message it was given. */
export interface Answer {
  reply(body: object): void;
  /** A "rejected" reply, and the message acked. */
  refuse(reason: string): void;
  /** Acked with no reply. */
  ack(): void;
}

export async function startBrokenReceiver(
  name: string,
  options: { amqpUrl: string; queue: string; diesOnBadJson: boolean },
  handleJson: (body: unknown, answer: Answer) => Promise<void>,
): Promise<BrokenReceiver> {
  const { queue } = options;
  const connection: ChannelModel = await connectAmqp({ url: options.amqpUrl, connectionName: name });
  const channel: Channel = await connection.createChannel();
  // Not auto-delete: the queue outlives its consumer's death, as a real receiver's does.
  await channel.assertQueue(queue, { durable: false });
  await channel.prefetch(1);
  let died = false;

  const answerTo = (m: ConsumeMessage): Answer => {
    const reply = (body: object): void => {
      const { replyTo, correlationId } = m.properties as { replyTo?: string; correlationId?: string };
      if (replyTo) channel.sendToQueue(replyTo, Buffer.from(JSON.stringify(body)), { ...(correlationId !== undefined && { correlationId }), contentType: 'application/json' });
    };
    return {
      reply,
      refuse(reason) {
        reply({ status: 'rejected', reason });
        channel.ack(m);
      },
      ack: () => channel.ack(m),
    };
  };

  const handle = async (m: ConsumeMessage): Promise<void> => {
    const answer = answerTo(m);
    if (m.content.length > MAX_MESSAGE_BYTES) return answer.refuse('too big');
    if (m.properties.contentType !== 'application/json') return answer.refuse(`content type ${String(m.properties.contentType)}`);
    let body: unknown;
    try {
      body = JSON.parse(m.content.toString('utf8'));
    } catch {
      if (!options.diesOnBadJson) return answer.refuse('not JSON');
      died = true;
      await connection.close();
      return;
    }
    await handleJson(body, answer);
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
      const cleanup = await connectAmqp({ url: options.amqpUrl, connectionName: `${name}-cleanup` });
      const ch = await cleanup.createChannel();
      await ch.deleteQueue(queue);
      await cleanup.close();
    },
  };
}
