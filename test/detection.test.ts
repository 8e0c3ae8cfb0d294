/**
 * Detection time, measured: for each kind of trouble in the incidents, the test starts it and measures how
 * long until its alert reaches a real webhook receiver, with the thresholds shortened. It prints the figure
 * (test/support/detection.ts) and asserts only that the alert came, and came once: never a time bound,
 * which would test the machine. The README turns the thresholds into production detection times.
 * (The hanging consumer's queue-no-progress is measured in test/monitor.test.ts, the broker memory alarm in
 * test/faults/broker-alarm.test.ts.)
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { loadConfig, type Config } from '../src/config/config';
import { readJsonMessage, startConsumer, type Consumer } from '../src/adapters/amqp-consumer';
import { TssStore } from '../src/adapters/tss-store';
import { TisStore } from '../src/adapters/tis-store';
import { openMongo, type MongoStore } from '../src/adapters/mongo';
import { cojSettings, submitCoj } from '../src/client/coj';
import { ensureMonitor, ensureSyncWatcher } from '../src/client/monitor';
import { ensureSchedule, scheduleDefinitions, SCHEDULE_IDS } from '../src/client/schedules';
import { startEsrExporter } from '../src/receivers/esr-exporter';
import { startReceivers } from '../src/receivers/run';
import { QUEUES } from '../src/shared/amqp';
import { cojWorkflowId } from '../src/shared/coj';
import { DEFAULT_ESR_TIMINGS, esrRunWorkflowId, type Deanery, type EsrTimings } from '../src/shared/esr';
import { esrRunWorkflow } from '../src/workflows';
import { testClient, testLogger, withWorker } from './support/system';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook';
import { newSignature, signed, syncBack } from './support/coj';
import { eventually } from '../src/shared/poll';
import { isolatedEsr, seedRecords, uniqueRunDate, type IsolatedEsr } from './support/esr';
import { reportDetection, seconds } from './support/detection';
import { registry } from '../src/adapters/metrics';

/**
 * A task queue, vhost and stores of this file's own: the trouble starts on an empty CoJ queue, the
 * reconciliation sees only this file's signed CoJs, and runs left on the queue are never taken by
 * another file's worker.
 */
const TASK_QUEUE = `tis-workflows-detection-test-${process.pid}`;
const MONITOR = { intervalMs: 300, idleAfterMs: 1000, ackBacklog: 100 };
const ESR_TIMINGS: EsrTimings = { ...DEFAULT_ESR_TIMINGS, resendInitialMs: 1000, resendMaxMs: 2000, attemptsPerRound: 2, roundPauseMs: 60_000, maxPasses: 1, observeIntervalMs: 200 };
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('detection time: from the trouble beginning to its alert at the webhook', () => {
  let isolated: IsolatedEsr;
  let webhook: WebhookReceiver;
  let config: Config;
  let client: Client;
  let tssDb: MongoStore;
  let tisDb: MongoStore;
  let tss: TssStore;
  let tis: TisStore;

  beforeAll(async () => {
    isolated = await isolatedEsr('detection', { cojStores: true });
    webhook = await startWebhookReceiver();
    const base = loadConfig({ ...isolated.env, TEMPORAL_TASK_QUEUE: TASK_QUEUE, TISW_ALERT_WEBHOOK_URL: webhook.url });
    config = {
      ...base,
      monitor: MONITOR,
      coj: { ...base.coj, slaMs: 1500, resendInitialMs: 300, resendMaxMs: 600, reconcileEveryMs: 2000, reconcileAfterMs: 1000 },
    };
    client = await testClient(config);
    tssDb = await openMongo(config.mongo.tss, 'test');
    tisDb = await openMongo(config.mongo.tis, 'test');
    tss = new TssStore(tssDb.db, config.mongo.tssProfilesCollection);
    await tss.createTssIndexes();
    tis = new TisStore(tisDb.db);
  });
  afterAll(async () => {
    await client.connection.close();
    await tssDb.close();
    await tisDb.close();
    await webhook.close();
    await isolated.close();
  });

  const alerts = (kind: string, naming: string): WebhookReceiver['alerts'] =>
    webhook.alerts.filter((a) => a.tisw.kind === kind && !a.text.includes('resolved') && a.tisw.summary.includes(naming));
  /** One day's run for one deanery, straight (not through the lane), under the id the exporter's replies lead back to. */
  const startEsrRun = (runDate: string, deanery: Deanery) => {
    const requestId = randomUUID().slice(0, 8);
    return client.workflow.start(esrRunWorkflow, { taskQueue: TASK_QUEUE, workflowId: esrRunWorkflowId({ runDate, requestId }), args: [{ requestId, runDate, deaneries: [deanery], timings: ESR_TIMINGS }] });
  };
  /**
   * One deanery's day run against `exporter` until its esr-deanery-failing alert, checking that no second one
   * comes while the run waits for its next round; then the run and the exporter are stopped.
   */
  async function firstDeaneryAlert(exporter: Consumer, deanery: Deanery, runDate: string): Promise<{ alert: WebhookReceiver['alerts'][number]; startedAt: number }> {
    try {
      await exporter.ready;
      return await withWorker(async () => {
        const startedAt = Date.now();
        const run = await startEsrRun(runDate, deanery);
        try {
          const alert = await eventually('the esr-deanery-failing alert', async () => alerts('esr-deanery-failing', `deanery ${deanery}`)[0]);
          await pause(1000); // the round pause is a minute: no second alert meanwhile
          expect(alerts('esr-deanery-failing', `deanery ${deanery}`)).toHaveLength(1);
          return { alert, startedAt };
        } finally {
          await run.terminate('test done');
        }
      }, config);
    } finally {
      await exporter.stop();
    }
  }
  const monitorSettings = `threshold ${seconds(MONITOR.idleAfterMs)}, check every ${seconds(MONITOR.intervalMs)}`;

  it('TIS receiver down with CoJs waiting: one queue-idle on the CoJ queue, and one coj-late at the SLA', async () => {
    const monitorId = `test-monitor-${randomUUID()}`;
    await withWorker(async () => {
      await ensureMonitor(client, config, monitorId);
      try {
        // No TIS receiver runs: the trouble begins as the trainee signs and the CoJ is published.
        const startedAt = Date.now();
        const s = await signed(tss, tis, newSignature({ signedAt: new Date(startedAt).toISOString() }));
        await submitCoj(client, cojSettings(config), s);
        const idle = await eventually('the queue-idle alert', async () => alerts('queue-idle', QUEUES.cojSigned)[0]);
        const late = await eventually('the coj-late alert', async () => alerts('coj-late', s.programmeMembershipTisId)[0]);
        reportDetection({ trouble: 'TIS receiver down with CoJs waiting', kind: 'queue-idle', startedAt, arrivedAt: webhook.receivedAt(idle), settings: monitorSettings });
        reportDetection({ trouble: 'TIS receiver down with CoJs waiting', kind: 'coj-late', startedAt, arrivedAt: webhook.receivedAt(late), settings: `SLA ${seconds(config.coj.slaMs)}` });

        await pause(1500); // several more checks and resends: still one alert each
        expect(alerts('queue-idle', QUEUES.cojSigned)).toHaveLength(1);
        expect(alerts('coj-late', s.programmeMembershipTisId)).toHaveLength(1);

        // TIS comes back: the CoJ is delivered, the queue empties, the episode ends.
        const receivers = await startReceivers(config, testLogger(config));
        try {
          await receivers.ready;
          expect(await client.workflow.getHandle(cojWorkflowId(s.programmeMembershipTisId)).result()).toMatchObject({ stage: 'acknowledged' });
          await eventually('the queue-idle resolved notice', async () => webhook.alerts.find((a) => a.tisw.kind === 'queue-idle' && a.text.includes('resolved')));
        } finally {
          await receivers.stop();
        }
      } finally {
        await client.workflow.getHandle(monitorId).terminate('test done');
      }
    }, config);
  });

  it('TIS\'s sync back to TSS down (synced mode): one coj-sync-stalled while TCS takes the CoJs, resolved once the sync returns', async () => {
    const monitorId = `test-monitor-${randomUUID()}`;
    const watcherId = `test-sync-watcher-${randomUUID()}`;
    const synced: Config = { ...config, coj: { ...config.coj, acknowledgement: 'synced', syncStalledAfterMs: 2000, syncWatchIntervalMs: 300, slaMs: 60_000 } };
    const receivers = await startReceivers(synced, testLogger(synced), { tisSync: false });
    try {
      await receivers.ready;
      await withWorker(async () => {
        await ensureMonitor(client, synced, monitorId);
        try {
          // TCS takes the CoJ and stores it; nothing syncs it back: the trouble begins as it is published.
          const startedAt = Date.now();
          const s = await signed(tss, tis, newSignature({ signedAt: new Date(startedAt).toISOString() }));
          await submitCoj(client, cojSettings(synced), s);
          const stalled = await eventually('the coj-sync-stalled alert', async () => alerts('coj-sync-stalled', 'CoJ(s) taken by TCS')[0]);
          reportDetection({
            trouble: "TIS's sync back to TSS down",
            kind: 'coj-sync-stalled',
            startedAt,
            arrivedAt: webhook.receivedAt(stalled),
            settings: `threshold ${seconds(synced.coj.syncStalledAfterMs)}, check every ${seconds(MONITOR.intervalMs)}`,
          });
          await pause(1500); // more checks: still one alert
          expect(alerts('coj-sync-stalled', 'CoJ(s) taken by TCS')).toHaveLength(1);

          // The sync comes back: the watcher sees the CoJ synced, the run ends, the episode ends.
          await ensureSyncWatcher(client, synced, watcherId);
          await syncBack(tss, s);
          expect(await client.workflow.getHandle(cojWorkflowId(s.programmeMembershipTisId)).result()).toMatchObject({ stage: 'acknowledged', acknowledgement: 'synced' });
          await eventually('the coj-sync-stalled resolved notice', async () => webhook.alerts.find((a) => a.tisw.kind === 'coj-sync-stalled' && a.text.includes('resolved')));
        } finally {
          await client.workflow.getHandle(monitorId).terminate('test done');
          await client.workflow.getHandle(watcherId).terminate('test done').catch(() => undefined);
        }
      }, synced);
    } finally {
      await receivers.stop();
    }
  });

  it('ESR exporter rejecting a deanery: one esr-deanery-failing naming the deanery and the exporter\'s reason, per round', async () => {
    // A stand-in for an exporter that refuses the deanery it is asked for, speaking the acknowledgement contract on the real broker.
    const reason = 'no ESR interface configured for this deanery';
    const exporter = startConsumer({
      url: config.amqp.url,
      queue: QUEUES.esrAppFileCommand,
      connectionName: 'test-rejecting-exporter',
      prefetch: 1,
      log: testLogger(config),
      handle: async (message, context) => {
        const read = readJsonMessage(message);
        const deanery = read.ok ? String((read.body as { deanery?: unknown }).deanery) : '?';
        await context.publish(String(message.properties.replyTo), { status: 'rejected', reason: `${reason}: ${deanery}` }, { correlationId: String(message.properties.correlationId) });
        return { kind: 'done' };
      },
    });
    const { alert, startedAt } = await firstDeaneryAlert(exporter, 'SEV', uniqueRunDate());
    expect(alert.tisw.details).toMatchObject({ deanery: 'SEV', reason: expect.stringContaining(`${reason}: SEV`) as unknown });
    expect(alert.text).toContain('deanery SEV');
    // The worker (in this process) counted the failing round for the deanery.
    const failures = (await registry.getSingleMetric('tisw_esr_deanery_failures_total')?.get())?.values.find((v) => v.labels.deanery === 'SEV');
    expect(failures?.value).toBeGreaterThanOrEqual(1);
    reportDetection({ trouble: 'ESR exporter rejecting deanery SEV', kind: 'esr-deanery-failing', startedAt, arrivedAt: webhook.receivedAt(alert), settings: 'at the first rejection' });
  });

  it('ESR exporter failing without a reply (the 2021 WriteConflict): one esr-deanery-failing once the round\'s resends are spent', async () => {
    const runDate = uniqueRunDate();
    await seedRecords(isolated.store, 'NTH', runDate, { due: 1 });
    const exporter = startEsrExporter({
      amqpUrl: config.amqp.url,
      store: isolated.store,
      filesDir: config.esr.filesDir,
      log: testLogger(config),
      requeueDelayMs: 200,
      beforeGeneration: () => {
        throw new Error('WriteConflict (injected)');
      },
    });
    const { alert, startedAt } = await firstDeaneryAlert(exporter, 'NTH', runDate);
    expect(alert.text).toMatch(/deanery NTH .*no acknowledgement/);
    const waits = `${ESR_TIMINGS.attemptsPerRound} attempts, resend after ${seconds(ESR_TIMINGS.resendInitialMs)} doubling to ${seconds(ESR_TIMINGS.resendMaxMs)}`;
    reportDetection({ trouble: 'ESR exporter failing every generation of NTH', kind: 'esr-deanery-failing', startedAt, arrivedAt: webhook.receivedAt(alert), settings: waits });
  });

  it('a signed CoJ that never got a workflow: one coj-unsubmitted from the scheduled reconciliation, naming it', async () => {
    // The project's own schedule definition, under an id of this test's, so the shared schedule is left alone.
    const definition = scheduleDefinitions(config).find((d) => d.scheduleId === SCHEDULE_IDS.cojReconciliation);
    if (!definition) throw new Error('no reconciliation schedule among the definitions');
    const scheduleId = `${definition.scheduleId}-detection-test-${process.pid}`;
    await withWorker(async () => {
      await ensureSchedule(client, { ...definition, scheduleId });
      let pm: string | undefined;
      try {
        // TSS saves the signature and never starts its workflow.
        const startedAt = Date.now();
        const s = await signed(tss, tis, newSignature({ signedAt: new Date(startedAt).toISOString() }));
        pm = s.programmeMembershipTisId;
        const alert = await eventually('the coj-unsubmitted alert', async () => alerts('coj-unsubmitted', s.programmeMembershipTisId)[0]);
        const settings = `reconciliation every ${seconds(config.coj.reconcileEveryMs)}, for CoJs signed ${seconds(config.coj.reconcileAfterMs)} ago`;
        reportDetection({ trouble: 'a signed CoJ that never got a workflow', kind: 'coj-unsubmitted', startedAt, arrivedAt: webhook.receivedAt(alert), settings });
        await pause(2.5 * config.coj.reconcileEveryMs); // the next reconciliations find its workflow: no second alert
        expect(alerts('coj-unsubmitted', s.programmeMembershipTisId)).toHaveLength(1);
      } finally {
        await client.schedule.getHandle(scheduleId).delete();
        if (pm) await client.workflow.getHandle(cojWorkflowId(pm)).terminate('test done').catch(() => undefined);
      }
    }, config);
  });
});
