import type { Client } from '@temporalio/client';
import { loadConfig, type Config } from '../src/config/config';
import { startEsrExporter, type EsrExporter, type EsrExporterOptions } from '../src/receivers/esr-exporter';
import { quietRuntime, startWorker } from '../src/worker/worker';
import { DEANERIES, ESR_LANE_WORKFLOW_ID, esrRunStatusQuery, esrRunWorkflowId, type Deanery, type EsrRunStatus, type EsrTimings } from '../src/shared/esr';
import { esrSettings, startEsrRequest } from '../src/client/esr';
import { esrScheduleDefinition } from '../src/client/schedules';
import { eventually } from '../src/shared/poll';
import { testClient, testLogger } from './support/system';
import { generationsOverlap, isolatedEsr, seedRecords, uniqueRunDate, type IsolatedEsr } from './support/esr';

/** ESR workflows and activities on a task queue of this file's own, so that no other test file's worker (another store, another vhost) takes them. */
const TASK_QUEUE = `tis-workflows-esr-observed-test-${process.pid}`;
/** The observe interval below ESR_OBSERVE_SECONDS' whole seconds, so that a deanery takes a fraction of a second. */
const TIMINGS: Partial<EsrTimings> = { resendInitialMs: 1000, resendMaxMs: 2000, attemptsPerRound: 3, roundPauseMs: 1000, maxPasses: 3, observeIntervalMs: 200 };

/**
 * `observed` mode (ESR_ACKNOWLEDGEMENT=observed, the default; the harness pins reply for the other suites):
 * the exporter sends no reply, and the run takes the command's file recorded in the exporter's store, with
 * no due record left, as its acknowledgement.
 */
describe('the ESR run in observed mode', () => {
  let esr: IsolatedEsr;
  let client: Client;
  let config: Config;

  beforeAll(async () => {
    esr = await isolatedEsr('esr-observed');
    config = loadConfig({ ...esr.env, ESR_ACKNOWLEDGEMENT: 'observed' });
    client = await testClient(config);
    quietRuntime(config, 'error', testLogger(config));
  });
  afterAll(async () => {
    await client.workflow.getHandle(ESR_LANE_WORKFLOW_ID).terminate('tests done').catch(() => undefined);
    await client.connection.close();
    await esr.close();
  });

  const startExporter = (options: Partial<EsrExporterOptions> = {}): EsrExporter =>
    startEsrExporter({ amqpUrl: config.amqp.url, store: esr.store, filesDir: config.esr.filesDir, log: testLogger(config), requeueDelayMs: 200, ...options });

  /** Workers (each with its acknowledgement listener, as in production) around `fn`. */
  async function withWorkers<T>(fn: () => Promise<T>, workers = 1): Promise<T> {
    const cluster = await Promise.all(
      Array.from({ length: workers }, (_, i) => startWorker(config, testLogger(config), { ensureClusterSetup: false, identity: `esr-observed-worker-${i}`, worker: { taskQueue: TASK_QUEUE } })),
    );
    const running = cluster.map((w) => w.run());
    try {
      await Promise.all(cluster.map((w) => w.ready));
      return await fn();
    } finally {
      for (const w of cluster) w.shutdown();
      await Promise.all(running);
    }
  }

  /** A run as the CLI starts it: the mode and observe interval from the configuration (esrSettings). */
  const startRun = (runDate: string, deaneries: Deanery[] = [...DEANERIES]) =>
    startEsrRequest(client, { ...esrSettings(config), taskQueue: TASK_QUEUE, runDate, deaneries, timings: { ...esrSettings(config).timings, ...TIMINGS } });

  const runStatus = async (runDate: string, requestId: string): Promise<EsrRunStatus | undefined> => {
    try {
      return await client.workflow.getHandle(esrRunWorkflowId({ runDate, requestId })).query(esrRunStatusQuery);
    } catch {
      return undefined; // not started by the lane yet
    }
  };

  /** Signals the run received: on the reply contract each acknowledgement is one; observed, there are none. */
  const signalsReceived = async (runDate: string, requestId: string): Promise<number> =>
    (await client.workflow.getHandle(esrRunWorkflowId({ runDate, requestId })).fetchHistory()).events?.filter((e) => e.workflowExecutionSignaledEventAttributes).length ?? 0;

  const consecutive = (sequences: number[]): boolean => sequences.every((s, i) => s === (sequences[0] ?? 0) + i);

  it('is the configured default, and the daily schedule gives it to the runs it starts', () => {
    expect(loadConfig({ ...esr.env, ESR_ACKNOWLEDGEMENT: undefined }).esr.acknowledgement).toBe('observed');
    const [input] = (esrScheduleDefinition({ ...esrSettings(config), taskQueue: TASK_QUEUE }).action as { args: unknown[] }).args;
    expect(input).toMatchObject({ acknowledgement: 'observed', timings: { observeIntervalMs: config.esr.observeIntervalMs } });
  });

  it('makes a full day from the store alone: 13 files one after another, consecutive sequence numbers in lane order, and no reply sent', async () => {
    const runDate = uniqueRunDate();
    const seeded = await Promise.all(DEANERIES.map((d) => seedRecords(esr.store, d, runDate, { due: 2, notDue: 1 })));
    const exporter = startExporter();
    let status: EsrRunStatus;
    try {
      await exporter.ready;
      status = await withWorkers(async () => (await (await startRun(runDate)).handle.result()));
    } finally {
      await exporter.stop();
    }

    expect(status.acknowledgement).toBe('observed');
    expect(status.deaneries.map((d) => [d.deanery, d.stage, d.files.length, d.alerts])).toEqual(DEANERIES.map((d) => [d, 'done', 1, 0]));
    const files = await esr.store.appFilesOf(runDate);
    expect(files.map((f) => f.deanery)).toEqual([...DEANERIES]);
    expect(consecutive(files.map((f) => f.sequence))).toBe(true);
    // What the run reports is what the exporter recorded.
    expect(status.deaneries.map((d) => d.files[0]?.fileName)).toEqual(files.map((f) => f.fileName));
    const due = seeded.flatMap((s) => s.due);
    expect(await esr.store.records.countDocuments({ _id: { $in: due }, status: 'EXPORTED' })).toBe(due.length);
    // The commands named no replyTo: the exporter replied to none, and nothing was signalled to the run.
    expect(exporter.stats).toMatchObject({ generated: 13, replies: 0 });
    expect(await signalsReceived(runDate, status.requestId)).toBe(0);
  });

  it('publishes the same command again while the exporter is down, and once it is back completes with one file per deanery and no duplicate number', async () => {
    const runDate = uniqueRunDate();
    await seedRecords(esr.store, 'EMD', runDate, { due: 1 });
    await seedRecords(esr.store, 'KSS', runDate, { due: 1 });
    let exporter: EsrExporter | undefined;
    const status = await withWorkers(async () => {
      const { requestId, handle } = await startRun(runDate, ['EMD', 'KSS']);
      const resent = await eventually(
        'EMD published again with nothing observed',
        async () => {
          const emd = (await runStatus(runDate, requestId))?.deaneries[0];
          return emd && emd.attempts >= 2 ? emd : undefined;
        },
        30_000,
      );
      expect(resent).toMatchObject({ files: [], lastFailure: expect.stringMatching(/no file recorded in the exporter's store for esr-.*-EMD-1/) as unknown });
      expect(await esr.store.appFiles.countDocuments({ runDate })).toBe(0);
      exporter = startExporter();
      try {
        return await handle.result();
      } finally {
        await exporter.stop();
      }
    });

    expect(status.deaneries.map((d) => [d.deanery, d.stage, d.pass, d.files.length])).toEqual([['EMD', 'done', 1, 1], ['KSS', 'done', 1, 1]]);
    expect(status.deaneries[0]?.attempts).toBeGreaterThanOrEqual(2);
    const files = await esr.store.appFilesOf(runDate);
    expect(files.map((f) => [f.deanery, f._id])).toEqual([['EMD', `esr-${runDate}-EMD-1`], ['KSS', `esr-${runDate}-KSS-1`]]);
    expect(consecutive(files.map((f) => f.sequence))).toBe(true);
    expect(exporter?.stats).toMatchObject({ generated: 2, replies: 0 });
  });

  it('continues as new between rounds when its history grows, and the lane still gets the final status', async () => {
    const runDate = uniqueRunDate();
    await seedRecords(esr.store, 'WES', runDate, { due: 1 });
    let exporter: EsrExporter | undefined;
    const status = await withWorkers(async () => {
      // One publish per round and a short pause: every round fails while the exporter is down; the history
      // passes 30 events in the first round, so each round boundary continues as new.
      const { requestId, handle } = await startEsrRequest(client, {
        ...esrSettings(config),
        taskQueue: TASK_QUEUE,
        runDate,
        deaneries: ['WES'],
        timings: { ...esrSettings(config).timings, ...TIMINGS, attemptsPerRound: 1, roundPauseMs: 200, historyEventsBeforeContinue: 30 },
      });
      const workflowId = esrRunWorkflowId({ runDate, requestId });
      await eventually('two continuations', async () => {
        let runs = 0;
        for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs += run.workflowId === workflowId ? 1 : 0;
        return runs >= 3 ? runs : undefined;
      }, 60_000);
      // Where it had got to came along: the alerts of the earlier rounds are still counted.
      expect((await runStatus(runDate, requestId))?.deaneries[0]?.alerts).toBeGreaterThanOrEqual(2);
      exporter = startExporter();
      try {
        return await handle.result();
      } finally {
        await exporter.stop();
      }
    });
    expect(status.deaneries).toEqual([expect.objectContaining({ deanery: 'WES', stage: 'done', pass: 1, files: [expect.objectContaining({ commandId: `esr-${runDate}-WES-1` })] })]);
    expect(status.deaneries[0]?.alerts).toBeGreaterThanOrEqual(2);
    expect(await esr.store.appFilesOf(runDate)).toHaveLength(1);
  });

  it('never has two generations in flight: two runs at once on a cluster of two workers, against an exporter that would take every command at once', async () => {
    const [day1, day2] = [uniqueRunDate(), uniqueRunDate()];
    for (const d of DEANERIES) {
      await seedRecords(esr.store, d, day1, { due: 1 });
      await seedRecords(esr.store, d, day2, { due: 1 });
    }
    // The exporter takes up to 26 commands at once and holds each generation 150 ms: a command published
    // before the one before it was observed would be in its hands beside that one (the 2021 incident).
    const inHand = new Set<string>();
    let mostInHand = 0;
    const exporter = startExporter({
      prefetch: 26,
      beforeGeneration: async ({ commandId }) => {
        inHand.add(commandId);
        mostInHand = Math.max(mostInHand, inHand.size);
        await new Promise((r) => setTimeout(r, 150));
        inHand.delete(commandId);
      },
    });
    try {
      await exporter.ready;
      await withWorkers(async () => {
        const [first, second] = [await startRun(day1), await startRun(day2)];
        await Promise.all([first.handle.result(), second.handle.result()]);
      }, 2);
    } finally {
      await exporter.stop();
    }
    expect(mostInHand).toBe(1);
    expect(await generationsOverlap(esr.store, day1, day2)).toBe(false);
    const files = [...(await esr.store.appFilesOf(day1)), ...(await esr.store.appFilesOf(day2))].sort((a, b) => a.sequence - b.sequence);
    expect(files).toHaveLength(26);
    expect(consecutive(files.map((f) => f.sequence))).toBe(true);
    // One day after the other (whichever the lane took first), each in TIS's deanery order.
    const firstDay = files[0]?.runDate;
    const secondDay = firstDay === day1 ? day2 : day1;
    expect(files.map((f) => `${f.runDate} ${f.deanery}`)).toEqual([...DEANERIES.map((d) => `${firstDay} ${d}`), ...DEANERIES.map((d) => `${secondDay} ${d}`)]);
    expect(exporter.stats).toMatchObject({ sequenceConflicts: 0, replies: 0 });
  });
});
