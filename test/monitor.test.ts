import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { connectAmqp } from '../src/adapters/amqp';
import { declareTopology } from '../src/adapters/amqp-topology';
import { ensureMonitor } from '../src/client/monitor';
import { registry } from '../src/adapters/metrics';
import { startReceivers } from '../src/receivers/run';
import { startAcknowledgementListener } from '../src/worker/acknowledgement-listener';
import { QUEUES } from '../src/shared/amqp';
import type { Config } from '../src/config/config';
import { testClient, testConfig, testLogger, withWorker } from './support/system';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook';
import { eventually } from '../src/shared/poll';
import { reportDetection, seconds } from './support/detection';

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
        await channel.purgeQueue(QUEUES.cojSigned); // left by an earlier file on this jest worker's vhost, if any
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

  it('raises one queue-no-progress alert while a consumer hangs with messages waiting, and one resolved when it takes them again', async () => {
    const monitorId = `test-monitor-${randomUUID()}`;
    const queue = QUEUES.esrAppFileCommand;
    const stalled = (): WebhookReceiver['alerts'] => webhook.alerts.filter((a) => a.tisw.kind === 'queue-no-progress' && a.tisw.summary.includes(queue));
    const connection = await connectAmqp({ url: config.amqp.url, connectionName: 'test-hanging-consumer' });
    try {
      const channel = await connection.createChannel();
      await declareTopology(channel);
      await channel.purgeQueue(queue); // left by an earlier file on this jest worker's vhost, if any
      await withWorker(async () => {
        expect(await ensureMonitor(client, config, monitorId)).toBe('started');
        for (let i = 0; i < 3; i++) channel.sendToQueue(queue, Buffer.from(`{"command":${i}}`), { contentType: 'application/json', persistent: true });
        // A consumer with prefetch 1 that takes the first message and never acks it: the two others wait.
        await channel.prefetch(1);
        let hanging = true;
        const held: import('amqplib').ConsumeMessage[] = [];
        let tookFirstAt = 0;
        await channel.consume(queue, (message) => {
          if (!message) return;
          tookFirstAt ||= Date.now();
          if (hanging) held.push(message);
          else channel.ack(message);
        });
        const raised = await eventually('the queue-no-progress alert', async () => stalled()[0]);
        expect(raised.text).toMatch(/queue-no-progress: 2 message\(s\) waiting on esr\.queue\.appfilegenerationcommand\.create\.dataexporter and its 1 consumer\(s\) take none/);
        expect(webhook.alerts.filter((a) => a.tisw.kind === 'queue-idle' && a.tisw.summary.includes(queue))).toEqual([]);
        reportDetection({ trouble: 'a consumer hangs with its prefetch full while messages wait', kind: 'queue-no-progress', startedAt: tookFirstAt, arrivedAt: webhook.receivedAt(raised), settings: `threshold ${seconds(config.monitor.idleAfterMs)}, check every ${seconds(config.monitor.intervalMs)}` });
        await eventually('the condition gauge at 1', async () => ((await gauge(`queue-no-progress:${queue}`)) === 1 ? true : undefined));
        await new Promise((r) => setTimeout(r, 1500)); // several more checks: still one alert for the episode
        expect(stalled()).toHaveLength(1);

        // The consumer recovers: it acks what it holds and takes the rest.
        hanging = false;
        for (const message of held.splice(0)) channel.ack(message);
        await eventually('the resolved notice', async () => webhook.alerts.find((a) => a.tisw.kind === 'queue-no-progress' && a.text.includes('resolved')));
        await eventually('the condition gauge back at 0', async () => ((await gauge(`queue-no-progress:${queue}`)) === 0 ? true : undefined));
        expect((await channel.checkQueue(queue)).messageCount).toBe(0);
        await client.workflow.getHandle(monitorId).terminate('test done');
      }, config);
    } finally {
      await connection.close();
    }
    expect(stalled().filter((a) => !a.text.includes('resolved'))).toHaveLength(1);
  });

  it('raises one ack-queue-growing alert while replies pile up with no listener taking them, and one resolved when a listener drains them', async () => {
    const monitorId = `test-monitor-${randomUUID()}`;
    const backlog = 5;
    const growing = (): WebhookReceiver['alerts'] => webhook.alerts.filter((a) => a.tisw.kind === 'ack-queue-growing');
    const withBacklog = { ...config, monitor: { ...config.monitor, ackBacklog: backlog } };
    const connection = await connectAmqp({ url: config.amqp.url, connectionName: 'test-replier' });
    try {
      const channel = await connection.createChannel();
      await declareTopology(channel);
      await channel.purgeQueue(QUEUES.acknowledgement);
      // A worker that runs the monitor but listens for no replies: the listeners of a cluster all down or stalled.
      await withWorker(async () => {
        expect(await ensureMonitor(client, withBacklog, monitorId)).toBe('started');
        const sentAt = Date.now();
        for (let i = 0; i < backlog + 3; i++) {
          // Replies as TIS's receiver sends them, for CoJ runs that are gone: a listener drops them.
          const reply = { status: 'ok', programmeMembershipTisId: randomUUID(), signedAt: '2026-01-05T09:30:00Z', version: 'GG10' };
          channel.sendToQueue(QUEUES.acknowledgement, Buffer.from(JSON.stringify(reply)), { contentType: 'application/json', persistent: true, messageId: randomUUID(), correlationId: `coj-${reply.programmeMembershipTisId}` });
        }
        const raised = await eventually('the ack-queue-growing alert', async () => growing()[0]);
        expect(raised.text).toMatch(/ack-queue-growing: 8 replies waiting on tisw\.queue\.acknowledgement \(more than 5\): the listeners do not keep up/);
        reportDetection({ trouble: 'replies pile up with no acknowledgement listener', kind: 'ack-queue-growing', startedAt: sentAt, arrivedAt: webhook.receivedAt(raised), settings: `backlog ${backlog}, check every ${seconds(config.monitor.intervalMs)}` });
        await eventually('the condition gauge at 1', async () => ((await gauge('ack-queue-growing')) === 1 ? true : undefined));
        await new Promise((r) => setTimeout(r, 1500)); // several more checks: still one alert for the episode
        expect(growing()).toHaveLength(1);

        // A listener comes back and drains the queue.
        const listener = startAcknowledgementListener({ amqpUrl: config.amqp.url, client, log: testLogger(config), connectionName: 'test-listener' });
        try {
          await listener.ready;
          await eventually('the resolved notice', async () => growing().find((a) => a.text.includes('resolved')));
          await eventually('the condition gauge back at 0', async () => ((await gauge('ack-queue-growing')) === 0 ? true : undefined));
          expect((await channel.checkQueue(QUEUES.acknowledgement)).messageCount).toBe(0);
        } finally {
          await listener.stop();
        }
        await client.workflow.getHandle(monitorId).terminate('test done');
      }, withBacklog, { acknowledgementListener: false });
    } finally {
      await connection.close();
    }
    expect(growing().filter((a) => !a.text.includes('resolved'))).toHaveLength(1);
  });
});
