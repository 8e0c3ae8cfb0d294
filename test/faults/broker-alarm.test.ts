import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { openMongo, type MongoStore } from '../../src/adapters/mongo';
import { TssStore } from '../../src/adapters/tss-store';
import { TisStore } from '../../src/adapters/tis-store';
import { cojSettings, cojStatus, submitCoj } from '../../src/client/coj';
import { ensureMonitor } from '../../src/client/monitor';
import { findStuck } from '../../src/client/stuck';
import { startPrivateRabbitMq, type PrivateRabbitMq } from '../../src/local/private-rabbitmq';
import { startReceivers } from '../../src/receivers/run';
import { cojWorkflowId } from '../../src/shared/coj';
import type { Config } from '../../src/config/config';
import { testClient, testConfig, testLogger, withWorker } from '../support/system';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook';
import { newSignature, signed } from '../support/coj';
import { eventually } from '../../src/shared/poll';

/** How often the monitor looks at the broker in this test. */
const CHECK_EVERY_MS = 300;

// On a private RabbitMQ node: an alarm on the machine's broker would block every other run's publishers.
describe('a broker memory alarm (the 2023 incident)', () => {
  let broker: PrivateRabbitMq;
  let webhook: WebhookReceiver;
  let config: Config;
  let client: Client;
  let db: MongoStore;

  beforeAll(async () => {
    broker = await startPrivateRabbitMq();
    webhook = await startWebhookReceiver();
    const base = testConfig();
    config = {
      ...base,
      alerts: { webhookUrl: webhook.url },
      amqp: { url: broker.url, confirmTimeoutMs: 2000 },
      monitor: { intervalMs: CHECK_EVERY_MS, idleAfterMs: 60_000, ackBacklog: 100 },
    };
    client = await testClient(config);
    db = await openMongo(config.mongo.tss, 'test');
  }, 90_000);
  afterAll(async () => {
    await client?.connection.close();
    await db?.close();
    await webhook?.close();
    await broker?.stop();
  });

  it('is alerted once, named by tisw stuck, and loses no CoJ: each is delivered once the alarm clears', async () => {
    const monitorId = `test-monitor-${randomUUID()}`;
    const s = await signed(new TssStore(db.db, config.mongo.tssProfilesCollection), new TisStore(db.db), newSignature());
    const receivers = await startReceivers(config, testLogger(config));
    try {
      await receivers.ready;
      await withWorker(async () => {
        await ensureMonitor(client, config, monitorId);
        await broker.raiseMemoryAlarm();
        const alarmSet = Date.now();
        try {
          const blocked = await eventually('the broker-blocked alert', async () => webhook.alerts.find((a) => a.tisw.kind === 'broker-blocked' && !a.tisw.resolved), 60_000);
          process.stdout.write(`detection: broker memory alarm -> broker-blocked alert in ${((webhook.receivedAt(blocked) - alarmSet) / 1000).toFixed(1)} s (check every ${CHECK_EVERY_MS / 1000} s)\n`);
          expect(blocked.tisw.summary).toMatch(/the broker is blocking publishers/);
          const report = await findStuck(client, config, { olderThanMs: 0, limit: 100 });
          expect(report.verdicts.some((v) => v.startsWith('broker is blocking publishers'))).toBe(true);

          // A CoJ signed during the alarm: its publishes time out, are counted, and are retried.
          await submitCoj(client, cojSettings(config), s);
          const waiting = await eventually('a failed publish', async () => {
            const st = await cojStatus(client, s.programmeMembershipTisId);
            return st.lastFailure ? st : undefined;
          }, 60_000);
          expect(waiting.lastFailure).toMatch(/no confirm .* within 2000 ms/);
        } finally {
          await broker.clearMemoryAlarm();
        }
        expect(await client.workflow.getHandle(cojWorkflowId(s.programmeMembershipTisId)).result()).toMatchObject({ stage: 'acknowledged' });
        await eventually('the resolved notice', async () => webhook.alerts.find((a) => a.tisw.kind === 'broker-blocked' && a.tisw.resolved), 60_000);
        await client.workflow.getHandle(monitorId).terminate('test done');
      }, config);
    } finally {
      await receivers.stop();
    }
    expect(webhook.alerts.filter((a) => a.tisw.kind === 'broker-blocked' && !a.tisw.resolved)).toHaveLength(1);
    expect(await new TisStore(db.db).findCojs([s.programmeMembershipTisId])).toHaveLength(1);
  });
});
