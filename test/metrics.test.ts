import type { Client } from '@temporalio/client';
import { openMongo, type MongoStore } from '../src/adapters/mongo';
import { TssStore } from '../src/adapters/tss-store';
import { TisStore } from '../src/adapters/tis-store';
import { cojSettings, cojStatus, submitCoj } from '../src/client/coj';
import { freePort } from '../src/local/ports';
import { waitFor } from '../src/shared/poll';
import { startReceivers } from '../src/receivers/run';
import { randomUUID } from 'node:crypto';
import { cojWorkflowId } from '../src/shared/coj';
import { DEFAULT_ESR_TIMINGS } from '../src/shared/esr';
import { esrRunWorkflow } from '../src/workflows';
import { testClient, testConfig, testLogger, within } from './support/system';
import { newSignature, signed } from './support/coj';
import { startTisw } from './support/processes';
import { parsePrometheus } from '../bench/measure';

describe('the worker metrics endpoint', () => {
  const config = testConfig();
  let client: Client;
  let db: MongoStore;

  beforeAll(async () => {
    client = await testClient(config);
    db = await openMongo(config.mongo.tss, 'test');
  });
  afterAll(async () => {
    await client.connection.close();
    await db.close();
  });

  it('serves the project\'s metrics (CoJ and ESR) and the Temporal SDK\'s as Prometheus text on one port', async () => {
    const port = await freePort();
    const worker = startTisw('worker', { TISW_METRICS_PORT: String(port) });
    const receivers = await startReceivers(config, testLogger(config));
    try {
      await receivers.ready;
      await waitFor('the metrics endpoint', async () => (await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined))?.ok === true, 60_000, worker.exited);
      const s = await signed(new TssStore(db.db, config.mongo.tssProfilesCollection), new TisStore(db.db), newSignature());
      await submitCoj(client, cojSettings(config), s);
      await within(30_000, 'the CoJ to be acknowledged', client.workflow.getHandle(cojWorkflowId(s.programmeMembershipTisId)).result()).catch(async (err: Error) => {
        const status = await cojStatus(client, s.programmeMembershipTisId).catch((e: Error) => e.message);
        throw new Error(`${err.message}; its status: ${JSON.stringify(status)}; worker output: ${worker.tail().slice(-1500)}`);
      });
      const esrRun = `esr-run-metrics-test-${randomUUID()}`;
      await within(30_000, 'the ESR run', client.workflow.execute(esrRunWorkflow, { taskQueue: config.temporal.taskQueue, workflowId: esrRun, args: [{ requestId: esrRun, runDate: '2098-02-01', deaneries: ['WES'], timings: { ...DEFAULT_ESR_TIMINGS, resendInitialMs: 2000, resendMaxMs: 4000 } }] }));

      const response = await within(10_000, 'the scrape', fetch(`http://127.0.0.1:${port}/metrics`));
      expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
      const samples = parsePrometheus(await response.text());
      const value = (name: string, labels: Record<string, string> = {}): number =>
        samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)).reduce((sum, x) => sum + x.value, 0);
      expect(value('tisw_coj_publishes_total', { result: 'ok', resend: 'false' })).toBeGreaterThanOrEqual(1);
      expect(value('tisw_coj_acknowledged_total', { outcome: 'synced' })).toBeGreaterThanOrEqual(1);
      expect(value('tisw_coj_submission_to_acknowledgement_seconds_count')).toBeGreaterThanOrEqual(1);
      // TIS answered the first publish while it waited in the worker (WorkerReplies); the ESR reply came as a signal.
      expect(value('tisw_replies_total', { job: 'coj', status: 'ok', result: 'handed-over-in-process' })).toBeGreaterThanOrEqual(1);
      expect(value('tisw_replies_total', { job: 'esr', status: 'ok', result: 'handed-over' })).toBeGreaterThanOrEqual(1);
      expect(value('tisw_esr_commands_published_total', { deanery: 'WES', result: 'ok' })).toBeGreaterThanOrEqual(1);
      expect(value('tisw_esr_app_files_total', { deanery: 'WES' })).toBeGreaterThanOrEqual(1);
      expect(samples.some((x) => x.name === 'tisw_esr_records_exported_total' && x.labels.deanery === 'WES')).toBe(true);
      // The SDK's own, from the same scrape.
      expect(samples.some((x) => x.name.startsWith('temporal_') && x.labels.task_queue === config.temporal.taskQueue)).toBe(true);
      // The process's own: memory and the event loop.
      expect(value('process_resident_memory_bytes')).toBeGreaterThan(0);
      expect(value('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    } finally {
      await receivers.stop();
      await worker.stop();
    }
  }, 120_000);
});
