import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { connectAmqp } from '../src/adapters/amqp';
import { declareTopology } from '../src/adapters/amqp-topology';
import { ensureMonitor } from '../src/client/monitor';
import { registry } from '../src/adapters/metrics';
import { startReceivers } from '../src/receivers/run';
import { QUEUES } from '../src/shared/contract';
import type { Config } from '../src/config/config';
import { testClient, testConfig, testLogger, withWorker } from './support/system';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook';
import { eventually } from './support/coj';

const gauge = async (condition: string): Promise<number | undefined> =>
  (await registry.getSingleMetric('tisw_monitor_condition')?.get())?.values.find((v) => v.labels.condition === condition)?.value;

describe('the system monitor', () => {
  let webhook: WebhookReceiver;
  let config: Config;
  let client: Client;

  beforeAll(async () => {
    webhook = await startWebhookReceiver();
    const base = testConfig();
    config = { ...base, alerts: { webhookUrl: webhook.url }, monitor: { intervalMs: 300, idleAfterMs: 1000, ackBacklog: 100 } };
    client = await testClient(config);
  });
  afterAll(async () => {
    await client.connection.close();
    await webhook.close();
  });

  it('raises one queue-idle alert while CoJs wait with no TIS receiver, and one resolved when it is back', async () => {
    const monitorId = `test-monitor-${randomUUID()}`;
    const idle = (): WebhookReceiver['alerts'] => webhook.alerts.filter((a) => a.tisw.kind === 'queue-idle' && a.tisw.summary.includes(QUEUES.cojSigned));
    await withWorker(async () => {
      expect(await ensureMonitor(client, config, monitorId)).toBe('started');
      expect(await ensureMonitor(client, config, monitorId)).toBe('running');
      // A CoJ event waits on the queue, and nothing consumes it: the 2023 incident.
      const connection = await connectAmqp({ url: config.amqp.url, connectionName: 'test-publisher' });
      try {
        const channel = await connection.createChannel();
        await declareTopology(channel);
        channel.sendToQueue(QUEUES.cojSigned, Buffer.from('{"not":"a coj"}'), { contentType: 'application/json', persistent: true });
        await channel.close();
      } finally {
        await connection.close();
      }
      const raised = await eventually('the queue-idle alert', async () => (idle().length > 0 ? idle() : undefined));
      expect(raised[0]?.text).toMatch(/queue-idle: 1 message\(s\) waiting on trainee\.queue\.coj\.signed\.tcs and no consumer/);
      // The worker running the monitor shows the condition as a gauge (this worker runs in this process).
      await eventually('the condition gauge at 1', async () => ((await gauge(`queue-idle:${QUEUES.cojSigned}`)) === 1 ? true : undefined));
      await new Promise((r) => setTimeout(r, 1500)); // several more checks: still one alert for the episode
      expect(idle()).toHaveLength(1);

      const receivers = await startReceivers(config, testLogger(config));
      try {
        await receivers.ready;
        await eventually('the resolved notice', async () => webhook.alerts.find((a) => a.tisw.kind === 'queue-idle' && a.text.includes('resolved')));
        await eventually('the condition gauge back at 0', async () => ((await gauge(`queue-idle:${QUEUES.cojSigned}`)) === 0 ? true : undefined));
      } finally {
        await receivers.stop();
      }
      await client.workflow.getHandle(monitorId).terminate('test done');
    }, config);
    expect(idle().filter((a) => !a.text.includes('resolved'))).toHaveLength(1);
  });
});
