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
import { tisw } from './support/processes';
import { prometheusTool, runPromtool } from './support/prometheus-tools';
import { METRICS_PORT_RANGE } from '../src/worker/metrics-server';
import type { Child } from '../src/local/child';
import net from 'node:net';

// Looked up (and installed where missing) as the file is collected, so that its test can skip saying why.
const tool = prometheusTool('promtool');

describe('the worker metrics endpoint', () => {
  const config = testConfig();
  let client: Client;
  let db: MongoStore;
  /** The page the first test scraped from a worker that had done CoJ and ESR work: every family has samples. */
  let page: string | undefined;

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
      page = await response.text();
      const samples = parsePrometheus(page);
      const value = (name: string, labels: Record<string, string> = {}): number =>
        samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)).reduce((sum, x) => sum + x.value, 0);
      expect(value('tisw_coj_publishes_total', { result: 'ok', resend: 'false' })).toBeGreaterThanOrEqual(1);
      expect(value('tisw_coj_acknowledged_total', { outcome: 'synced' })).toBeGreaterThanOrEqual(1);
      expect(value('tisw_coj_submission_to_acknowledgement_seconds_count')).toBeGreaterThanOrEqual(1);
      // TIS's reply reached the run: to the first publish waiting in the worker (WorkerReplies), or, where that
      // wait ran out (a loaded machine), as a signal; the ESR reply came as a signal.
      const cojReplies = (result: string): number => value('tisw_replies_total', { job: 'coj', status: 'ok', result });
      expect(cojReplies('handed-over-in-process') + cojReplies('handed-over')).toBeGreaterThanOrEqual(1);
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

  (tool.path ? it : it.skip)(`passes promtool check metrics (Prometheus's own lint of names, types and help)${tool.path ? '' : `: skipped, ${tool.whyNot}`}`, async () => {
    if (!page) throw new Error('no page to check: the scrape in the test above failed');
    const { code, output } = await runPromtool(tool.path!, ['check', 'metrics'], page);
    expect(output).toBe('');
    expect(code).toBe(0);
  });

  it('gives a second worker on the host the next free port, and says which in its log line and in tisw health', async () => {
    const port = await freePort();
    const first = startLoggingWorker(port);
    const second: Array<ReturnType<typeof startLoggingWorker>> = [];
    try {
      // One after the other, so that which takes TISW_METRICS_PORT itself is known.
      const firstPort = await first.metricsPort;
      second.push(startLoggingWorker(port));
      const secondPort = await second[0]!.metricsPort;
      expect(firstPort).toBe(port);
      // The next free one: port + 1 unless another program holds it.
      expect(secondPort).toBeGreaterThan(port);
      expect(secondPort).toBeLessThan(port + METRICS_PORT_RANGE);
      expect(second[0]!.pollingLine()).toContain(`TISW_METRICS_PORT ${port} is taken`);
      for (const p of [firstPort, secondPort]) expect((await fetch(`http://127.0.0.1:${p}/metrics`)).ok).toBe(true);

      // Each worker's port, from its Temporal identity, beside its pid.
      let detail = '';
      await waitFor('tisw health to list both workers', async () => {
        const { stdout } = await tisw(['health', '--json']);
        detail = (JSON.parse(stdout) as { checks: Array<{ name: string; detail: string }> }).checks.find((c) => c.name === 'temporal.workers')?.detail ?? '';
        return detail.includes(`pid ${first.child.pid},`) && detail.includes(`pid ${second[0]!.child.pid},`);
      }, 30_000);
      expect(detail).toContain(`pid ${first.child.pid}, metrics on :${firstPort}`);
      expect(detail).toContain(`pid ${second[0]!.child.pid}, metrics on :${secondPort}`);
    } finally {
      await Promise.all([first, ...second].map((w) => w.child.stop()));
    }
  }, 120_000);

  it('refuses to start, naming TISW_METRICS_PORT, when every port of its range is taken', async () => {
    const port = await freePort();
    // Hold the whole range (a port another program already holds is taken all the same).
    const holders = (await Promise.all(Array.from({ length: METRICS_PORT_RANGE }, (_, i) => hold(port + i)))).filter((h) => h !== undefined);
    try {
      const worker = startTisw('worker', { TISW_METRICS_PORT: String(port) });
      await waitFor('the worker to exit', async () => worker.exited() !== undefined, 60_000);
      expect(worker.exited()?.message).toMatch(/code 1/);
      expect(worker.tail()).toContain(`no free port for the metrics endpoint: ${port}–${port + METRICS_PORT_RANGE - 1} (TISW_METRICS_PORT=${port}`);
      expect(worker.tail()).not.toContain('EADDRINUSE');
    } finally {
      await Promise.all(holders.map((h) => new Promise((resolve) => h.close(resolve))));
    }
  }, 90_000);
});

/**
 * `tisw worker` with TISW_METRICS_PORT=port and info logs: `metricsPort` resolves with the port its start-up
 * line says it took (rejecting if it exits first); `pollingLine` is that line's message.
 */
function startLoggingWorker(port: number): { child: Child; metricsPort: Promise<number>; pollingLine(): string } {
  let line = '';
  let taken = 0;
  const child = startTisw('worker', { TISW_METRICS_PORT: String(port), LOG_LEVEL: 'info' }, (text) => {
    if (!text.startsWith('{')) return;
    const entry = JSON.parse(text) as { msg?: string; metricsPort?: number | null };
    if (entry.msg?.startsWith('worker polling')) [line, taken] = [entry.msg, entry.metricsPort ?? 0];
  });
  const metricsPort = waitFor('the worker to say its metrics port', async () => line !== '', 60_000, child.exited).then(() => taken);
  return { child, metricsPort, pollingLine: () => line };
}

/** Listens on port on every address, as the worker's endpoint does; undefined if something else already holds it. */
function hold(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '0.0.0.0', () => resolve(server));
  });
}
