import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { connectAmqp } from '../src/adapters/amqp';
import { openMongo, type MongoStore } from '../src/adapters/mongo';
import { QUEUES } from '../src/shared/amqp';
import { PROBE_COLLECTION, probeWorkflowId, type ProbeMessage } from '../src/shared/probe';
import { probeWorkflow } from '../src/workflows';
import { testClient, testConfig, withWorker } from './support/system';

describe('the probe workflow, end to end on the real servers', () => {
  const config = testConfig();
  let client: Client;
  let tss: MongoStore;

  beforeAll(async () => {
    client = await testClient(config);
    tss = await openMongo(config.mongo.tss, 'test');
  });
  afterAll(async () => {
    await client.connection.close();
    await tss.close();
  });

  it('publishes a persistent, confirmed message to RabbitMQ and writes its record to MongoDB', async () => {
    const probeId = randomUUID();
    const result = await withWorker(() =>
      client.workflow.execute(probeWorkflow, { taskQueue: config.temporal.taskQueue, workflowId: probeWorkflowId(probeId), args: [{ probeId }] }),
    );
    expect(result).toMatchObject({ probeId, queue: QUEUES.probe, messageId: `probe-${probeId}` });

    // Read the message back from the broker.
    const connection = await connectAmqp({ url: config.amqp.url, connectionName: 'test-probe-reader' });
    try {
      const channel = await connection.createChannel();
      let message = await channel.get(QUEUES.probe, { noAck: true });
      while (message && message.properties.messageId !== `probe-${probeId}`) message = await channel.get(QUEUES.probe, { noAck: true });
      expect(message).toBeTruthy();
      if (!message) return;
      expect(message.properties).toMatchObject({ deliveryMode: 2, contentType: 'application/json', type: 'probe' });
      expect(JSON.parse(message.content.toString()) as ProbeMessage).toMatchObject({ probeId });
    } finally {
      await connection.close();
    }

    // And the record back from the database.
    const stored = await tss.db.collection<{ _id: string }>(PROBE_COLLECTION).findOne({ _id: probeId });
    expect(stored).toMatchObject({ probeId, queue: QUEUES.probe, recordedAt: result.recordedAt });
  });

  it('refuses a malformed probe id before doing anything', async () => {
    const probeId = 'not valid!';
    await withWorker(async () => {
      await expect(
        client.workflow.execute(probeWorkflow, { taskQueue: config.temporal.taskQueue, workflowId: probeWorkflowId(randomUUID()), args: [{ probeId }] }),
      ).rejects.toThrow(/Workflow execution failed/);
    });
    expect(await tss.db.collection<{ _id: string }>(PROBE_COLLECTION).countDocuments({ _id: probeId })).toBe(0);
  });
});
