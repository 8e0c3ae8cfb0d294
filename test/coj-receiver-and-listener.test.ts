import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Message as ConsumeMessage } from 'amqplib';
import { connectAmqp } from '../src/adapters/amqp';
import { TisStore } from '../src/adapters/tis-store';
import { TssStore } from '../src/adapters/tss-store';
import { cojSettings, submitCoj } from '../src/client/coj';
import { startReceivers } from '../src/receivers/run';
import { cojWorkflowId, DEAD_LETTER_REASON_HEADER, deadLetterQueue, QUEUES } from '../src/shared/contract';
import { runStatuses, testConfig, testLogger, withWorker } from './support/system';
import { eventually, newSignature, signed, openCojStores, type CojTestStores } from './support/coj';

/**
 * The acknowledgement contract at the edges: what the TIS receiver does with each kind of message, and
 * what the listener does with each kind of reply. Messages are put on the real broker by hand.
 */
describe('the TIS CoJ receiver and the acknowledgement listener', () => {
  const config = testConfig();
  const log = testLogger(config);
  let stores: CojTestStores;
  let client: Client;
  let tss: TssStore;
  let tis: TisStore;

  beforeAll(async () => {
    stores = await openCojStores(config);
    ({ client, tss, tis } = stores);
  });
  afterAll(async () => {
    await stores.close();
  });

  /** Publishes raw bytes with the given properties; returns a reader of a queue's messages. */
  async function withBroker<T>(fn: (b: { send(queue: string, content: string | Buffer, props?: Record<string, unknown>): Promise<void>; take(queue: string, match: (m: ConsumeMessage) => boolean): Promise<ConsumeMessage> }) => Promise<T>): Promise<T> {
    const connection = await connectAmqp({ url: config.amqp.url, connectionName: 'test-raw' });
    try {
      const channel = await connection.createConfirmChannel();
      const send = (queue: string, content: string | Buffer, props: Record<string, unknown> = {}): Promise<void> =>
        new Promise((resolve, reject) => channel.sendToQueue(queue, Buffer.isBuffer(content) ? content : Buffer.from(content), { persistent: true, ...props }, (err: unknown) => (err ? reject(new Error('nacked')) : resolve())));
      // Walks the queue for a matching message; the others go back, in order, once the walk is done.
      const take = (queue: string, match: (m: ConsumeMessage) => boolean): Promise<ConsumeMessage> =>
        eventually(`a matching message on ${queue}`, async () => {
          const others: ConsumeMessage[] = [];
          try {
            for (let m = await channel.get(queue); m; m = await channel.get(queue)) {
              if (match(m)) {
                channel.ack(m);
                return m;
              }
              others.push(m);
            }
            return undefined;
          } finally {
            for (const m of others) channel.nack(m, false, true);
          }
        });
      return await fn({ send, take });
    } finally {
      await connection.close();
    }
  }

  describe('the receiver', () => {
    it.each([
      ['not JSON', '{"programmeMembershipTisId": ', { contentType: 'application/json' }, /not valid JSON/],
      ['the wrong content type', '<coj/>', { contentType: 'text/xml' }, /content type text\/xml/],
      ['a missing field', JSON.stringify({ programmeMembershipTisId: randomUUID() }), { contentType: 'application/json' }, /conditionsOfJoining/],
      ['an unknown version', JSON.stringify({ programmeMembershipTisId: randomUUID(), conditionsOfJoining: { signedAt: '2026-11-01T10:00:00Z', version: 'GG99', syncedAt: null } }), { contentType: 'application/json' }, /version: must be one of GG9, GG10, GG11/],
      ['a malformed id', JSON.stringify({ programmeMembershipTisId: 'x; drop', conditionsOfJoining: { signedAt: '2026-11-01T10:00:00Z', version: 'GG9', syncedAt: null } }), { contentType: 'application/json' }, /programmeMembershipTisId: must be a UUID/],
      ['an oversized body', Buffer.alloc(300 * 1024, 'a'), { contentType: 'application/json' }, /over the 262144-byte limit/],
    ])('dead-letters a CoJ message with %s, replies with the rejection, and keeps running', async (_what, content, props, reason) => {
      const receivers = await startReceivers(config, log);
      try {
        await receivers.ready;
        await withBroker(async ({ send, take }) => {
          const messageId = randomUUID();
          const correlationId = `coj-${randomUUID()}`;
          const replyTo = `test.replies.${messageId}`;
          const connection = await connectAmqp({ url: config.amqp.url, connectionName: 'test-reply-queue' });
          const ch = await connection.createChannel();
          await ch.assertQueue(replyTo, { autoDelete: false, durable: false });
          try {
            await send(QUEUES.cojSigned, content, { ...props, messageId, correlationId, replyTo });
            const dead = await take(deadLetterQueue(QUEUES.cojSigned), (m) => m.properties.messageId === messageId);
            expect(String(dead.properties.headers?.[DEAD_LETTER_REASON_HEADER])).toMatch(reason);
            const reply = await take(replyTo, (m) => m.properties.correlationId === correlationId);
            expect(JSON.parse(reply.content.toString())).toMatchObject({ status: 'rejected', reason: expect.stringMatching(reason) });
          } finally {
            await ch.deleteQueue(replyTo);
            await connection.close();
          }
        });
        // Still consuming: a good CoJ after the bad one is stored.
        const s = await signed(tss, tis, newSignature());
        await withBroker(({ send }) => send(QUEUES.cojSigned, JSON.stringify({ programmeMembershipTisId: s.programmeMembershipTisId, conditionsOfJoining: { signedAt: s.signedAt, version: s.version, syncedAt: null } }), { contentType: 'application/json' }));
        await eventually('the good CoJ in TIS', async () => (await tis.conditionsOfJoining.findOne({ _id: s.programmeMembershipTisId })) ?? undefined);
      } finally {
        await receivers.stop();
      }
    });

    it('stores a resent CoJ once, and ignores an older signature arriving after a newer one', async () => {
      const s = newSignature();
      await tis.addProgrammeMembership(s.programmeMembershipTisId, s.traineeTisId);
      expect(await tis.upsertCoj(s.programmeMembershipTisId, new Date(s.signedAt), 'GG10')).toBe('inserted');
      expect(await tis.upsertCoj(s.programmeMembershipTisId, new Date(s.signedAt), 'GG10')).toBe('unchanged');
      expect(await tis.upsertCoj(s.programmeMembershipTisId, new Date(Date.parse(s.signedAt) - 1000), 'GG9')).toBe('older-ignored');
      expect(await tis.conditionsOfJoining.findOne({ _id: s.programmeMembershipTisId })).toMatchObject({ signedAt: new Date(s.signedAt), version: 'GG10' });
    });
  });

  describe('the listener', () => {
    it.each([
      ['no correlation id', '{"status":"ok"}', {}, /correlationId null names no workflow/],
      ['a correlation id that is not ours', '{"status":"ok"}', { correlationId: 'payroll-123' }, /names no workflow of ours/],
      ['a body that is not JSON', 'ok!', { correlationId: `coj-${randomUUID()}` }, /not valid JSON/],
      ['no status', '{"fine":true}', { correlationId: `coj-${randomUUID()}` }, /status/],
      ['a rejection without a reason', '{"status":"rejected"}', { correlationId: `coj-${randomUUID()}` }, /reason/],
    ])('dead-letters a reply with %s and keeps listening', async (_what, content, props, reason) => {
      await withWorker(async () => {
        await withBroker(async ({ send, take }) => {
          const messageId = randomUUID();
          await send(QUEUES.acknowledgement, content, { contentType: 'application/json', messageId, ...props });
          const dead = await take(deadLetterQueue(QUEUES.acknowledgement), (m) => m.properties.messageId === messageId);
          expect(String(dead.properties.headers?.[DEAD_LETTER_REASON_HEADER])).toMatch(reason);
        });
      }, config);
    });

    it('drops duplicate and late replies harmlessly: the run completes once and the queue drains', async () => {
      const s = await signed(tss, tis, newSignature());
      const timings = { ...cojSettings(config).timings, resendInitialMs: 500, resendMaxMs: 1000 };
      await withWorker(async () => {
        const receivers = await startReceivers(config, log);
        try {
          await receivers.ready;
          await submitCoj(client, { ...cojSettings(config), timings }, s);
          await client.workflow.getHandle(cojWorkflowId(s.programmeMembershipTisId)).result();
        } finally {
          await receivers.stop();
        }
        // A late duplicate of TIS's reply, and one for a workflow that never existed.
        await withBroker(async ({ send }) => {
          const body = JSON.stringify({ status: 'ok', programmeMembershipTisId: s.programmeMembershipTisId, signedAt: s.signedAt, version: s.version });
          await send(QUEUES.acknowledgement, body, { contentType: 'application/json', correlationId: cojWorkflowId(s.programmeMembershipTisId) });
          await send(QUEUES.acknowledgement, body, { contentType: 'application/json', correlationId: cojWorkflowId(randomUUID()) });
        });
        await eventually('the acknowledgement queue to drain', async () => {
          const connection = await connectAmqp({ url: config.amqp.url, connectionName: 'test-check' });
          try {
            const { messageCount } = await (await connection.createChannel()).checkQueue(QUEUES.acknowledgement);
            return messageCount === 0 ? true : undefined;
          } finally {
            await connection.close();
          }
        });
      }, config);
      expect(await runStatuses(client, cojWorkflowId(s.programmeMembershipTisId))).toEqual(['COMPLETED']);
      expect(await tis.conditionsOfJoining.countDocuments({ _id: s.programmeMembershipTisId })).toBe(1);
    });
  });
});
