import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { loadConfig, type Config } from '../src/config/config';
import { startEsrExporter, type EsrExporter, type EsrExporterOptions } from '../src/receivers/esr-exporter';
import { startAcknowledgementListener } from '../src/worker/acknowledgement-listener';
import { quietRuntime, startWorker } from '../src/worker/worker';
import type { Consumer } from '../src/adapters/amqp-consumer';
import { DEANERIES, DEFAULT_ESR_TIMINGS, ESR_SCHEDULE_ID, ESR_SCHEDULED_WORKFLOW_ID, esrRequestWorkflowId, esrRunStatusQuery, esrRunWorkflowId, type EsrRunStatus, type EsrTimings } from '../src/shared/esr';
import { esrRequestWorkflow } from '../src/workflows';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory, WorkerOptions } from '@temporalio/worker';
import { esrSettings, filesOf, requestEsrRun } from '../src/client/esr';
import { ensureEsrSchedule, summariseSchedule } from '../src/client/schedules';
import { pauseSchedule, testClient, testLogger } from './support/system';
import { startTcpProxy } from './support/tcp-proxy';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook';
import { isolatedEsr, seedRecords, uniqueRunDate, type IsolatedEsr } from './support/esr';
import { eventually } from '../src/shared/poll';

/** ESR workflows and activities on a task queue of this file's own, so that no other test file's worker (another store, another vhost) takes them. */
const TASK_QUEUE = `tis-workflows-esr-run-test-${process.pid}`;
const TIMINGS: EsrTimings = { ...DEFAULT_ESR_TIMINGS, resendInitialMs: 1000, resendMaxMs: 2000, attemptsPerRound: 2, roundPauseMs: 1000, maxPasses: 3, observeIntervalMs: 200 };

/** The alerts this file's tests raise name a deanery and a reason. */
type EsrAlert = WebhookReceiver['alerts'][number] & { tisw: { details: { deanery: string; reason: string } } };

describe('the ESR run through the one lane', () => {
  let esr: IsolatedEsr;
  let client: Client;
  let listener: Consumer;
  let webhook: WebhookReceiver;
  /** The webhook's alerts (the same array, filled as they arrive). */
  let alerts: EsrAlert[];
  let config: Config;

  beforeAll(async () => {
    esr = await isolatedEsr('esr-run');
    webhook = await startWebhookReceiver();
    alerts = webhook.alerts as EsrAlert[];
    config = loadConfig({ ...esr.env, TISW_ALERT_WEBHOOK_URL: webhook.url });
    client = await testClient(config);
    listener = startAcknowledgementListener({ amqpUrl: config.amqp.url, client, log: testLogger(config), connectionName: 'test-ack-listener' });
    await listener.ready;
    quietRuntime(config, 'error', testLogger(config));
  });
  afterAll(async () => {
    await listener.stop();
    await client.workflow.getHandle('esr-lane').terminate('tests done').catch(() => undefined);
    await client.schedule.getHandle(ESR_SCHEDULE_ID).delete().catch(() => undefined);
    await client.connection.close();
    await webhook.close();
    await esr.close();
  });

  async function withSystem<T>(
    fn: (exporter: EsrExporter | undefined) => Promise<T>,
    exporterOptions: Partial<EsrExporterOptions> | 'none' = {},
    workers = 1,
    workerOptions: Partial<WorkerOptions> = {},
  ): Promise<T> {
    const cluster = await Promise.all(
      Array.from({ length: workers }, (_, i) => startWorker(config, testLogger(config), { ensureClusterSetup: false, identity: `esr-test-worker-${i}`, worker: { taskQueue: TASK_QUEUE, ...workerOptions } })),
    );
    const running = cluster.map((w) => w.run());
    const exporter =
      exporterOptions === 'none'
        ? undefined
        : startEsrExporter({ amqpUrl: config.amqp.url, store: esr.store, filesDir: config.esr.filesDir, log: testLogger(config), requeueDelayMs: 200, ...exporterOptions });
    try {
      await exporter?.ready;
      return await fn(exporter);
    } finally {
      await exporter?.stop();
      for (const w of cluster) w.shutdown();
      await Promise.all(running);
    }
  }

  const startRun = (runDate: string, deaneries: string[] = [...DEANERIES]) => {
    const requestId = randomUUID().slice(0, 8);
    return client.workflow.start(esrRequestWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: esrRequestWorkflowId(requestId),
      args: [{ requestId, runDate, deaneries, timings: TIMINGS }],
    });
  };

  const runStatus = async (runDate: string, requestId: string): Promise<EsrRunStatus | undefined> => {
    try {
      return await client.workflow.getHandle(esrRunWorkflowId({ runDate, requestId })).query(esrRunStatusQuery);
    } catch {
      return undefined; // not started by the lane yet
    }
  };

  const sequencesOf = (status: EsrRunStatus): number[] => status.deaneries.flatMap((d) => d.files.map((f) => f.sequence));

  it('makes a full day: 13 files one after another, consecutive sequence numbers in lane order, due records EXPORTED, the rest left alone', async () => {
    const runDate = uniqueRunDate();
    const seeded = await Promise.all(DEANERIES.map((d) => seedRecords(esr.store, d, runDate, { due: 2, notDue: 1 })));
    const status = await withSystem(async () => (await startRun(runDate)).result());

    expect(status.stage).toBe('done');
    expect(status.deaneries.map((d) => [d.deanery, d.stage, d.files.length])).toEqual(DEANERIES.map((d) => [d, 'done', 1]));
    const sequences = sequencesOf(status);
    expect(sequences).toEqual(sequences.map((_, i) => (sequences[0] ?? 0) + i));
    const due = seeded.flatMap((s) => s.due);
    const notDue = seeded.flatMap((s) => s.notDue);
    expect(await esr.store.records.countDocuments({ _id: { $in: due }, status: 'EXPORTED' })).toBe(due.length);
    expect(await esr.store.records.countDocuments({ _id: { $in: notDue }, status: 'TO_EXPORT' })).toBe(notDue.length);

    const described = await client.workflow.getHandle(esrRunWorkflowId({ runDate, requestId: status.requestId })).describe();
    expect(described.searchAttributes).toMatchObject({ TisRunDate: [runDate], TisStage: ['done'], TisDeanery: ['SEV'] });
  });

  it('run again for the same date, makes no new file where nothing new is due and reports the files already made', async () => {
    const runDate = uniqueRunDate();
    await seedRecords(esr.store, 'EMD', runDate, { due: 1 });
    const [first, second] = await withSystem(async () => [await (await startRun(runDate, ['EMD', 'KSS'])).result(), await (await startRun(runDate, ['KSS', 'EMD'])).result()]);
    expect(second?.deaneries.map((d) => d.files)).toEqual(first?.deaneries.map((d) => d.files));
    expect(await esr.store.appFiles.countDocuments({ runDate })).toBe(2);
  });

  it('completes when the exporter fails its first attempts for some deaneries, with no duplicate file or number', async () => {
    const runDate = uniqueRunDate();
    for (const d of DEANERIES) await seedRecords(esr.store, d, runDate, { due: 1 });
    const failures = new Map<string, number>([['KSS', 3], ['LDN', 3]]);
    const status = await withSystem(
      async () => (await startRun(runDate)).result(),
      {
        requeueDelayMs: 700,
        beforeGeneration: ({ deanery }) => {
          const left = failures.get(deanery) ?? 0;
          if (left > 0) {
            failures.set(deanery, left - 1);
            throw new Error('WriteConflict (injected)');
          }
        },
      },
    );
    expect(failures.get('KSS')).toBe(0);
    expect(status.deaneries.every((d) => d.stage === 'done' && d.files.length === 1)).toBe(true);
    const files = await esr.store.appFilesOf(runDate);
    expect(files).toHaveLength(13);
    const sequences = files.map((f) => f.sequence);
    expect(sequences).toEqual(sequences.map((_, i) => (sequences[0] ?? 0) + i));
    expect(files.map((f) => f.deanery)).toEqual([...DEANERIES]);
  });

  it('waits while the exporter is down, then completes once it is back', async () => {
    const runDate = uniqueRunDate();
    await seedRecords(esr.store, 'EMD', runDate, { due: 1 });
    const worker = await startWorker(config, testLogger(config), { ensureClusterSetup: false, worker: { taskQueue: TASK_QUEUE } });
    const running = worker.run();
    try {
      const handle = await startRun(runDate, ['EMD', 'KSS']);
      const id = handle.workflowId.replace(/^esr-request-/, '');
      await eventually('EMD published twice without an answer', async () => (((await runStatus(runDate, id))?.deaneries[0]?.attempts ?? 0) >= 2 ? true : undefined), 30_000);
      expect((await runStatus(runDate, id))?.deaneries[0]?.files).toEqual([]);
      const exporter = startEsrExporter({ amqpUrl: config.amqp.url, store: esr.store, filesDir: config.esr.filesDir, log: testLogger(config), requeueDelayMs: 200 });
      try {
        const status = await handle.result();
        expect(status.deaneries.map((d) => [d.deanery, d.stage, d.files.length])).toEqual([['EMD', 'done', 1], ['KSS', 'done', 1]]);
      } finally {
        await exporter.stop();
      }
    } finally {
      worker.shutdown();
      await running;
    }
    expect(await esr.store.appFiles.countDocuments({ runDate })).toBe(2);
  });

  it('raises an alert naming a deanery that keeps failing, finishes the others meanwhile, and completes once it recovers', async () => {
    const runDate = uniqueRunDate();
    let broken = true;
    const status = await withSystem(
      async () => {
        const handle = await startRun(runDate, ['EMD', 'NTH', 'SEV']);
        const id = handle.workflowId.replace(/^esr-request-/, '');
        await eventually(
          'SEV done while NTH fails',
          async () => {
            const s = await runStatus(runDate, id);
            return s?.deaneries.find((d) => d.deanery === 'SEV')?.stage === 'done' && (s.deaneries.find((d) => d.deanery === 'NTH')?.alerts ?? 0) >= 1 ? true : undefined;
          },
          40_000,
        );
        broken = false;
        return handle.result();
      },
      {
        beforeGeneration: ({ deanery }) => {
          if (deanery === 'NTH' && broken) throw new Error('WriteConflict (injected)');
        },
      },
    );
    expect(status.deaneries.map((d) => [d.deanery, d.stage, d.files.length])).toEqual([['EMD', 'done', 1], ['NTH', 'done', 1], ['SEV', 'done', 1]]);
    const alert = alerts.find((a) => a.tisw.details.deanery === 'NTH');
    expect(alert?.tisw.kind).toBe('esr-deanery-failing');
    expect(alert?.text).toMatch(/NTH.*no acknowledgement/);
    // EMD, then SEV, then NTH when the run came back to it.
    const files = await esr.store.appFilesOf(runDate);
    expect(files.map((f) => f.deanery)).toEqual(['EMD', 'SEV', 'NTH']);
  });

  it('raises an alert naming a deanery whose check of the records still due fails (the ESR store down), and completes once it is back', async () => {
    const runDate = uniqueRunDate();
    let storeDown = true;
    // The worker's check fails as it does once its retries are spent while the ESR store is unreachable.
    const storeOutage: ActivityInterceptorsFactory = (ctx) => ({
      inbound: {
        execute: async (input, next) => {
          if (storeDown && ctx.info.activityType === 'remainingDueRecords') throw ApplicationFailure.nonRetryable('the ESR store is unreachable (injected)');
          return next(input);
        },
      },
    });
    const status = await withSystem(
      async () => {
        const handle = await startRun(runDate, ['EMD', 'KSS']);
        const id = handle.workflowId.replace(/^esr-request-/, '');
        await eventually('both deaneries failing', async () => ((await runStatus(runDate, id))?.deaneries.every((d) => d.alerts >= 1) ? true : undefined), 40_000);
        storeDown = false;
        return handle.result();
      },
      {},
      1,
      { interceptors: { activity: [storeOutage] } },
    );
    expect(status.deaneries.map((d) => [d.deanery, d.stage, d.files.length])).toEqual([['EMD', 'done', 1], ['KSS', 'done', 1]]);
    expect(alerts.filter((a) => a.tisw.details.reason?.includes('checking the records still due failed')).map((a) => a.tisw.details.deanery).sort()).toEqual(['EMD', 'KSS']);
    // Coming back to a deanery asks for the same command again: the same file, no second number.
    expect((await esr.store.appFilesOf(runDate)).map((f) => f.deanery)).toEqual(['EMD', 'KSS']);
  });

  it('does not count publishes the broker refused as attempts of the round: no alert, and the run goes on once the broker is back', async () => {
    const runDate = uniqueRunDate();
    const alertsFrom = alerts.length;
    // The worker reaches the broker through a proxy that is then cut; the exporter and the listener reach it directly.
    const amqp = new URL(config.amqp.url);
    const proxy = await startTcpProxy({ host: amqp.hostname, port: Number(amqp.port || 5672) });
    const viaProxy = new URL(config.amqp.url);
    viaProxy.port = String(proxy.port);
    const worker = await startWorker({ ...config, amqp: { ...config.amqp, url: viaProxy.toString(), confirmTimeoutMs: 1000 } }, testLogger(config), {
      ensureClusterSetup: false,
      identity: 'esr-test-worker-behind-proxy',
      worker: { taskQueue: TASK_QUEUE },
    });
    const running = worker.run();
    const exporter = startEsrExporter({ amqpUrl: config.amqp.url, store: esr.store, filesDir: config.esr.filesDir, log: testLogger(config), requeueDelayMs: 200 });
    try {
      await Promise.all([worker.ready, exporter.ready]);
      await proxy.cut();
      const handle = await startRun(runDate, ['EMD']);
      const id = handle.workflowId.replace(/^esr-request-/, '');
      // More failed publishes than a round allows (TIMINGS.attemptsPerRound), and still no alert.
      let failing: EsrRunStatus['deaneries'][number] | undefined;
      await eventually(
        'more publishes failed than a round allows',
        async () => {
          failing = (await runStatus(runDate, id))?.deaneries.find((x) => x.deanery === 'EMD');
          return failing !== undefined && failing.attempts > TIMINGS.attemptsPerRound && /publishing the command failed/.test(failing.lastFailure ?? '') ? true : undefined;
        },
        90_000,
      );
      expect(failing).toMatchObject({ stage: 'publishing', alerts: 0 });
      await proxy.restore();
      const status = await handle.result();
      expect(status.deaneries.map((d) => [d.deanery, d.stage, d.files.length, d.alerts])).toEqual([['EMD', 'done', 1, 0]]);
      expect(alerts.slice(alertsFrom).filter((a) => a.tisw.kind === 'esr-deanery-failing')).toEqual([]);
    } finally {
      await exporter.stop();
      worker.shutdown();
      await running;
      await proxy.close();
    }
  }, 150_000);

  it('runs a backfill started while another run is going after it, never two generations at once, on a cluster of two workers', async () => {
    const [day1, day2] = [uniqueRunDate(), uniqueRunDate()];
    for (const d of DEANERIES) {
      await seedRecords(esr.store, d, day1, { due: 1 });
      await seedRecords(esr.store, d, day2, { due: 1 });
    }
    await withSystem(async () => {
      const scheduled = await startRun(day1);
      const backfill = await startRun(day2);
      await Promise.all([scheduled.result(), backfill.result()]);
    }, {}, 2);
    const files = [...(await esr.store.appFilesOf(day1)), ...(await esr.store.appFilesOf(day2))].sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
    expect(files).toHaveLength(26);
    for (let i = 1; i < files.length; i++) {
      expect(files[i]?.startedAt.getTime()).toBeGreaterThanOrEqual(files[i - 1]?.finishedAt?.getTime() ?? Infinity);
      expect(files[i]?.sequence).toBe((files[i - 1]?.sequence ?? 0) + 1);
    }
    // One day after the other: all of one day's files before any of the other's.
    expect(new Set(files.slice(0, 13).map((f) => f.runDate)).size).toBe(1);
  });

  describe('the daily schedule and the CLI', () => {
    it('is created once, updated in place keeping an operator\'s pause, runs at 13:00 UTC with explicit overlap and catch-up policies', async () => {
      // Another test file may have made it already (ensureSchedules makes every schedule of the project).
      expect(['created', 'updated']).toContain(await ensureEsrSchedule(client, { ...esrSettings(config), taskQueue: TASK_QUEUE }));
      const handle = client.schedule.getHandle(ESR_SCHEDULE_ID);
      await pauseSchedule(client, ESR_SCHEDULE_ID, 'operator: ESR outage');
      expect(await ensureEsrSchedule(client, { ...esrSettings(config), taskQueue: TASK_QUEUE })).toBe('updated');
      const paused = await handle.describe();
      expect(paused.state).toMatchObject({ paused: true, note: 'operator: ESR outage' });
      expect(paused.policies).toMatchObject({ overlap: 'ALLOW_ALL', catchupWindow: 7 * 86_400_000 });
      await handle.unpause();
      const active = summariseSchedule(await handle.describe());
      expect(active.nextActionTimes.length).toBeGreaterThan(0);
      expect(active.nextActionTimes.every((t) => t.endsWith('T13:00:00.000Z'))).toBe(true);
    });

    it('gives a scheduled action run late (a backfill) the run date it was scheduled for, not the day it ran', async () => {
      await ensureEsrSchedule(client, { ...esrSettings(config), taskQueue: TASK_QUEUE });
      const runDate = '2031-03-04';
      const { due } = await seedRecords(esr.store, 'EMD', runDate, { due: 1 });
      const status = await withSystem(async () => {
        await client.schedule.getHandle(ESR_SCHEDULE_ID).backfill({ start: new Date(`${runDate}T12:00:00Z`), end: new Date(`${runDate}T14:00:00Z`), overlap: ScheduleOverlapPolicy.ALLOW_ALL });
        const workflowId = `${ESR_SCHEDULED_WORKFLOW_ID}-${runDate}T13:00:00Z`;
        await eventually(`the scheduled workflow ${workflowId}`, async () => client.workflow.getHandle(workflowId).describe().then(() => true, () => undefined), 20_000);
        return (await client.workflow.getHandle(workflowId).result()) as EsrRunStatus;
      });
      expect(status.runDate).toBe(runDate);
      expect(status.deaneries.map((d) => d.stage)).toEqual(DEANERIES.map(() => 'done'));
      expect((await esr.store.records.findOne({ _id: due[0] ?? '' }))?.status).toBe('EXPORTED');
    });

    it('`tisw esr run` waits for the outcome through the lane and reports each deanery as it is done', async () => {
      const runDate = uniqueRunDate();
      await seedRecords(esr.store, 'KSS', runDate, { due: 2 });
      const seen: string[] = [];
      const status = await withSystem(() =>
        requestEsrRun(client, {
          runDate,
          deaneries: ['EMD', 'KSS'],
          timings: TIMINGS,
          taskQueue: TASK_QUEUE,
          pollMs: 20,
          onStatus: (s) => seen.push(s.deaneries.map((d) => `${d.deanery}:${d.stage}`).join(',')),
        }),
      );
      expect(filesOf(status).map((f) => [f.deanery, f.recordCount])).toEqual([['EMD', 0], ['KSS', 2]]);
      expect(seen.at(-1)).toBe('EMD:done,KSS:done');
    });
  });
});
