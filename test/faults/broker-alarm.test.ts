import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { openMongo, type MongoStore } from '../../src/adapters/mongo';
import { TssStore } from '../../src/adapters/tss-store';
import { TisStore } from '../../src/adapters/tis-store';
import { cojSettings, cojStatus, submitCoj } from '../../src/client/coj';
import { ensureMonitor } from '../../src/client/monitor';
import { findStuck } from '../../src/client/stuck';
import { rabbitmqctl } from '../../src/local/rabbitmq';
import { startReceivers } from '../../src/receivers/run';
import { cojWorkflowId } from '../../src/shared/contract';
import type { Config } from '../../src/config/config';
import { testClient, testConfig, testLogger, withWorker } from '../support/system';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook';
import { eventually, newSignature, signed } from '../support/coj';

/** The machine's own setting, put back however the test ends. */
async function currentWatermark(): Promise<string> {
  const env = await rabbitmqctl('environment');
  return /\{vm_memory_high_watermark,([0-9.]+)\}/.exec(env)?.[1] ?? '0.4';
}

describe('a broker memory alarm (the 2023 incident)', () => {
  let webhook: WebhookReceiver;
  let config: Config;
  let client: Client;
  let db: MongoStore;
  let watermark: string;

  beforeAll(async () => {
    webhook = await startWebhookReceiver();
    const base = testConfig();
    config = { ...base, alerts: { webhookUrl: webhook.url }, amqp: { ...base.amqp, confirmTimeoutMs: 2000 }, monitor: { intervalMs: 300, idleAfterMs: 60_000, ackBacklog: 100 } };
    client = await testClient(config);
    db = await openMongo(config.mongo.tss, 'test');
    watermark = await currentWatermark();
  });
  afterAll(async () => {
    await rabbitmqctl('set_vm_memory_high_watermark', watermark);
    await client.connection.close();
    await db.close();
    await webhook.close();
  });

  it('is alerted once, named by tisw stuck, and loses no CoJ: each is delivered once the alarm clears', async () => {
    const monitorId = `test-monitor-${randomUUID()}`;
    const s = await signed(new TssStore(db.db), new TisStore(db.db), newSignature());
    const receivers = await startReceivers(config, testLogger(config));
    try {
      await receivers.ready;
      await withWorker(async () => {
        await ensureMonitor(client, config, monitorId);
        await rabbitmqctl('set_vm_memory_high_watermark', '0.0001');
        try {
          const blocked = await eventually('the broker-blocked alert', async () => webhook.alerts.find((a) => a.tisw.kind === 'broker-blocked' && !a.text.includes('resolved')), 60_000);
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
          await rabbitmqctl('set_vm_memory_high_watermark', watermark);
        }
        expect(await client.workflow.getHandle(cojWorkflowId(s.programmeMembershipTisId)).result()).toMatchObject({ stage: 'acknowledged' });
        await eventually('the resolved notice', async () => webhook.alerts.find((a) => a.tisw.kind === 'broker-blocked' && a.text.includes('resolved')), 60_000);
        await client.workflow.getHandle(monitorId).terminate('test done');
      }, config);
    } finally {
      await receivers.stop();
    }
    expect(webhook.alerts.filter((a) => a.tisw.kind === 'broker-blocked' && !a.text.includes('resolved'))).toHaveLength(1);
    expect(await new TisStore(db.db).conditionsOfJoining.countDocuments({ _id: s.programmeMembershipTisId })).toBe(1);
  });
});
