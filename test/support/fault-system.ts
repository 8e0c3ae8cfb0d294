/**
 * The system the fault table breaks: a throwaway copy of the whole system (bench/bench-system.ts: its own
 * Temporal dev server on a SQLite file, FerretDB on PostgreSQL) on a private RabbitMQ node (never the
 * machine's: other runs and engineers use that one), three `tisw worker` processes, one `tisw receivers`
 * and one `tisw tis-sync` (so that TIS's sync can fail on its own), in the default acknowledgement modes
 * (CoJs synced, ESR observed: TIS as it runs), alerts to a local webhook, and the monitor's thresholds
 * shortened. Every part can be
 * broken and brought back. What it starts is written to the harness's run-state directory, so that the
 * next test run's global setup cleans up after one killed before its teardown.
 */
import type { Client } from '@temporalio/client';
import { startBenchSystem, type BenchSystem } from '../../bench/bench-system';
import { connectClient } from '../../src/adapters/temporal';
import { EsrStore } from '../../src/adapters/esr-store';
import { openMongo } from '../../src/adapters/mongo';
import { TisStore } from '../../src/adapters/tis-store';
import { TssStore } from '../../src/adapters/tss-store';
import { SCHEDULE_IDS } from '../../src/client/schedules';
import type { Child } from '../../src/local/child';
import { startPrivateRabbitMq, type PrivateRabbitMq } from '../../src/local/private-rabbitmq';
import { removeRunState, writeRunState } from '../harness/run-state';
import { pauseSchedule, testConfig } from './system';
import { startWebhookReceiver, type WebhookReceiver } from './webhook';

/** The monitor's thresholds in the fault system: each fault's expected alerts follow from these. */
export const MONITOR = {
  /** How often the monitor looks at the broker. */
  intervalSeconds: 1,
  /** queue-idle and broker-unreachable hold this long before they alert. */
  idleAfterSeconds: 20,
  /** CoJs taken by TCS and none synced back for this long raise coj-sync-stalled. */
  syncStalledAfterSeconds: 30,
  /** ack-queue-growing is not under test here: far above what a burst leaves waiting. */
  ackBacklog: 100_000,
} as const;

export const WORKERS = 3;

export interface FaultSystem {
  system: BenchSystem;
  broker: PrivateRabbitMq;
  webhook: WebhookReceiver;
  client: Client;
  tss: TssStore;
  tis: TisStore;
  esr: EsrStore;
  workers: Child[];
  /** SIGKILLs one of the workers; returns when it is gone. */
  killWorker(): Promise<void>;
  /** Starts workers until WORKERS poll the task queue. */
  topUpWorkers(): Promise<void>;
  killReceivers(): Promise<void>;
  startReceivers(): Promise<void>;
  killTisSync(): Promise<void>;
  startTisSync(): Promise<void>;
  /** Writes the current pids down for the sweep of a crashed run (call after any restart). */
  recordRunState(): void;
  stop(): Promise<void>;
}

export async function startFaultSystem(): Promise<FaultSystem> {
  const broker = await startPrivateRabbitMq();
  const webhook = await startWebhookReceiver();
  let system: BenchSystem;
  try {
    system = await startBenchSystem(testConfig(), 'faults', {
      prefix: 'tisw-test-faults',
      postgresDatabase: 'tisw_test',
      amqpUrl: broker.url,
      env: {
        TISW_ALERT_WEBHOOK_URL: webhook.url,
        MONITOR_INTERVAL_SECONDS: String(MONITOR.intervalSeconds),
        MONITOR_IDLE_AFTER_SECONDS: String(MONITOR.idleAfterSeconds),
        MONITOR_ACK_BACKLOG: String(MONITOR.ackBacklog),
        // The defaults, set because the test harness pins reply mode for the suites of the reply contract.
        COJ_ACKNOWLEDGEMENT: 'synced',
        ESR_ACKNOWLEDGEMENT: 'observed',
        COJ_SYNC_STALLED_AFTER_SECONDS: String(MONITOR.syncStalledAfterSeconds),
        // A publish held back by the memory alarm fails (and is retried) after 2 s instead of 10.
        AMQP_CONFIRM_TIMEOUT_MS: '2000',
      },
    });
  } catch (err) {
    await Promise.allSettled([broker.stop(), webhook.close()]);
    throw err;
  }
  const runId = `faults-${process.pid}`;
  const workers: Child[] = [];
  let receivers: Child | undefined;
  let tisSync: Child | undefined;
  const closers: Array<() => Promise<void>> = [];
  let client: Client | undefined;

  const recordRunState = (): void => {
    const pids = [...system.stack.children, ...workers, ...(receivers ? [receivers] : []), ...(tisSync ? [tisSync] : [])].map((c) => c.pid);
    writeRunState({ runId, ownerPid: process.pid, pids, vhosts: [], namespaces: [], database: system.database, tmpDir: system.tmpDir });
  };
  const stop = async (): Promise<void> => {
    await client?.connection.close().catch(() => undefined);
    await Promise.allSettled(closers.map((close) => close()));
    await system.stop();
    await Promise.allSettled([broker.stop(), webhook.close()]);
    removeRunState(runId);
  };

  try {
    recordRunState();
    for (let i = 0; i < WORKERS; i++) workers.push(system.startTisw('worker'));
    receivers = system.startTisw('receivers --no-tis-sync');
    tisSync = system.startTisw('tis-sync');
    recordRunState();
    await system.waitForWorker();
    client = await connectClient(system.config.temporal);
    // The daily ESR run would add a run date of its own, and reconciliation runs of its own, to what each
    // fault is judged on; neither is under test here.
    for (const scheduleId of Object.values(SCHEDULE_IDS)) await pauseSchedule(client, scheduleId, 'paused by the fault suite');
    const [tssDb, tisDb] = [await openMongo(system.config.mongo.tss, 'test-faults'), await openMongo(system.config.mongo.tis, 'test-faults')];
    closers.push(() => tssDb.close(), () => tisDb.close());
    const esr = await EsrStore.open(system.config.mongo.esr, 'test-faults', { createIndexes: true });
    closers.push(() => esr.close());
    const tss = new TssStore(tssDb.db, system.config.mongo.tssProfilesCollection);
    await tss.createTssIndexes();
    const liveClient = client;
    return {
      system,
      broker,
      webhook,
      client: liveClient,
      tss,
      tis: new TisStore(tisDb.db),
      esr,
      workers,
      async killWorker() {
        const victim = workers.shift();
        await victim?.kill();
      },
      async topUpWorkers() {
        while (workers.length < WORKERS) workers.push(system.startTisw('worker'));
        recordRunState();
        await system.waitForWorker();
      },
      async killReceivers() {
        await receivers?.kill();
        receivers = undefined;
      },
      async startReceivers() {
        receivers = system.startTisw('receivers --no-tis-sync');
        recordRunState();
      },
      async killTisSync() {
        await tisSync?.kill();
        tisSync = undefined;
      },
      async startTisSync() {
        tisSync = system.startTisw('tis-sync');
        recordRunState();
      },
      recordRunState,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
