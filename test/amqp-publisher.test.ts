import { randomUUID } from 'node:crypto';
import { AmqpPublisher } from '../src/adapters/amqp';
import { connectAmqp } from '../src/adapters/amqp';
import { QUEUES } from '../src/shared/amqp';
import { PublishReturnedError } from '../src/shared/errors';
import { testConfig, testLogger } from './support/system';

describe('the AMQP publisher with confirms', () => {
  const config = testConfig();
  const log = testLogger(config);

  it('resolves only once the broker has the message, and the message is persistent JSON with its ids', async () => {
    const publisher = new AmqpPublisher({ ...config.amqp, connectionName: 'test-publisher', log });
    const messageId = randomUUID();
    try {
      await publisher.publish(QUEUES.probe, { hello: 'world' }, { messageId, correlationId: 'c-1', replyTo: 'replies', type: 'test' });
    } finally {
      await publisher.close();
    }
    const connection = await connectAmqp({ url: config.amqp.url, connectionName: 'test-reader' });
    try {
      const channel = await connection.createChannel();
      let message = await channel.get(QUEUES.probe, { noAck: true });
      while (message && message.properties.messageId !== messageId) message = await channel.get(QUEUES.probe, { noAck: true });
      expect(message && message.properties).toMatchObject({ deliveryMode: 2, correlationId: 'c-1', replyTo: 'replies', contentType: 'application/json' });
      expect(message && JSON.parse(message.content.toString())).toEqual({ hello: 'world' });
    } finally {
      await connection.close();
    }
  });

  it('fails a publish that no queue takes (mandatory: the broker returns it) with a retryable error', async () => {
    const publisher = new AmqpPublisher({ ...config.amqp, connectionName: 'test-publisher', log });
    try {
      await expect(publisher.publish(`no-such-queue-${randomUUID()}`, {}, { messageId: 'm' })).rejects.toBeInstanceOf(PublishReturnedError);
      // The connection stays usable after a return.
      await expect(publisher.publish(QUEUES.probe, {}, { messageId: 'after-return' })).resolves.toBeUndefined();
    } finally {
      await publisher.close();
    }
  });

  it('fails a publish with a clear error when the broker cannot be reached', async () => {
    const unreachable = new AmqpPublisher({ ...config.amqp, url: 'amqp://guest:guest@127.0.0.1:1/', connectionName: 'test-publisher', log });
    await expect(unreachable.publish(QUEUES.probe, {}, { messageId: 'm' })).rejects.toThrow(/ECONNREFUSED/);
    await unreachable.close();
  });
});
