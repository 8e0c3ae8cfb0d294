/**
 * One worker: the workflows and activities of tis-workflows on the cluster's task queue, and the cluster's
 * watchers on theirs (watchersTaskQueue: why apart). Run several
 * (`tisw worker` N times, on one machine or many) and Temporal shares the work among them.
 * startWorker is the one way a worker starts: `tisw worker` (and so `tisw up` and the CoJ benchmark,
 * which run `tisw worker` processes), the ESR benchmark and the tests all call it.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { DefaultLogger, Runtime, Worker, type LogLevel, type WorkerOptions } from '@temporalio/worker';
import type { Config } from '../config/config';
import { createLogger, type Logger } from '../config/logger';
import { AmqpPublisher } from '../adapters/amqp';
import { Alerter } from '../adapters/alerts';
import { EsrStore } from '../adapters/esr-store';
import { openMongo } from '../adapters/mongo';
import { clientOver, connectClient, connectWorker, dataConverter, ensureSearchAttributes } from '../adapters/temporal';
import { TssStore } from '../adapters/tss-store';
import { cojSettings } from '../client/coj';
import { ensureSchedules } from '../client/schedules';
import { ensureMonitor, ensureSyncWatcher } from '../client/monitor';
import { freePort } from '../local/ports';
import { startMetricsServer } from './metrics-server';
import { workerReplyQueue } from '../adapters/amqp-topology';
import { startAcknowledgementListener } from './acknowledgement-listener';
import { startTisEventsListener } from './tis-events-listener';
import { WorkerReplies } from './worker-replies';
import { WorkerSyncs } from './worker-syncs';
import { WAITS_AT_ONCE } from './in-worker-waits';
import { createActivities } from '../activities';
import { workflowSource } from './workflow-bundle';
import { watchersTaskQueue, workerIdentity } from '../shared/temporal';

export interface TiswWorker {
  /** Stops polling both task queues (harmless when already stopping); run() resolves once in-flight tasks are done (or the grace time is up). */
  shutdown(): void;
  /** Resolves once the acknowledgement listener consumes (and so the broker's queues are declared). */
  ready: Promise<void>;
  /** Runs until shutdown() (or a signal, for a process-wide Runtime), then closes what it opened. */
  run(): Promise<void>;
}

export interface WorkerOverrides {
  /** A prebuilt workflow bundle; default: see workflowSource(). */
  workflowBundlePath?: string;
  identity?: string;
  /** Extra Worker options, e.g. for benchmarks. */
  worker?: Partial<WorkerOptions>;
  /** false: no acknowledgement listener (a test of the monitor's ack-queue-growing needs replies left waiting). */
  acknowledgementListener?: boolean;
}

export interface StartWorkerOptions extends WorkerOverrides {
  /**
   * Make sure of what the cluster needs before polling: the search attributes, the two schedules and the
   * system monitor (idempotent, so every worker of a cluster does it). Tests that own their schedules and
   * monitor, and the ESR benchmark, say false. @default true
   */
  ensureClusterSetup?: boolean;
}

/**
 * Starts one worker: the process-wide Temporal runtime (once per process), the Prometheus endpoint on
 * TISW_METRICS_PORT or the next free port after it (unless 0; metrics-server.ts), the cluster's setup, then
 * the worker itself, whose Temporal identity names that port. Resolves once it is created;
 * `run()` polls until SIGINT/SIGTERM or `worker.shutdown()`, then closes everything it opened.
 */
export async function startWorker(config: Config, log: Logger, options: StartWorkerOptions = {}): Promise<TiswWorker> {
  const { ensureClusterSetup = true, ...overrides } = options;
  const metricsPort = runtimeInstalled ? 0 : config.metricsPort;
  const sdkMetricsPort = metricsPort > 0 ? await freePort() : undefined;
  if (!runtimeInstalled) installRuntime(config, log, sdkMetricsPort);
  const metrics = metricsPort > 0 ? await startMetricsServer(metricsPort, `http://127.0.0.1:${sdkMetricsPort}/metrics`) : undefined;
  try {
    if (ensureClusterSetup) {
      const client = await connectClient(config.temporal);
      try {
        await ensureSearchAttributes(client, config.temporal.namespace);
        await ensureSchedules(client, config);
        await ensureMonitor(client, config);
        if (config.coj.acknowledgement === 'synced') await ensureSyncWatcher(client, config);
      } finally {
        await client.connection.close();
      }
    }
    const worker = await createWorker(config, log, overrides, metrics?.port);
    const where = { taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace, address: config.temporal.address };
    // Say the port taken, and why when it is not TISW_METRICS_PORT: a scrape of that one finds another worker.
    const metricsSaid = !metrics
      ? 'no metrics endpoint'
      : `metrics on :${metrics.port}/metrics${metrics.port !== metricsPort ? ` (TISW_METRICS_PORT ${metricsPort} is taken, by another worker on this host or another program)` : ''}`;
    log.info({ ...where, metricsPort: metrics?.port ?? null }, `worker polling; ${metricsSaid}`);
    return {
      ...worker,
      async run() {
        try {
          await worker.run();
        } finally {
          await metrics?.close();
          log.info('worker stopped');
        }
      },
    };
  } catch (err) {
    await metrics?.close();
    throw err;
  }
}

async function createWorker(config: Config, log: Logger, overrides: WorkerOverrides, metricsPort: number | undefined): Promise<TiswWorker> {
  const name = workerIdentity({ host: os.hostname(), pid: process.pid });
  const closers: Array<() => Promise<unknown>> = [];
  const closeAll = async (): Promise<void> => {
    await Promise.allSettled(closers.reverse().map((close) => close()));
  };
  try {
    const amqp = new AmqpPublisher({ ...config.amqp, connectionName: name, log });
    closers.push(() => amqp.close());
    const tss = await openMongo(config.mongo.tss, 'tisw-worker');
    closers.push(() => tss.close());
    // TSS's database: no index created here (`tisw health` reports any the reads need that are missing).
    const tssStore = new TssStore(tss.db, config.mongo.tssProfilesCollection);
    const esr = await EsrStore.open(config.mongo.esr, 'tisw-worker'); // the exporter's: its indexes are the exporter's to make
    closers.push(() => esr.close());
    const connection = await connectWorker(config.temporal);
    closers.push(() => connection.close());
    const client = clientOver(connection, config.temporal);
    const alerter = new Alerter({ log, ...config.alerts });
    const listens = overrides.acknowledgementListener !== false;
    // The reply queue is this process's alone: several workers may share a host, a pid and even a process (tests).
    const workerReplies = listens ? new WorkerReplies(workerReplyQueue(`${os.hostname()}.${process.pid}.${randomBytes(4).toString('hex')}`), config.coj.replyWaitMs) : undefined;
    // Idle (no read of TSS's store) unless a synced-mode publish waits here.
    const workerSyncs = new WorkerSyncs(tssStore, config.coj.syncWaitMs, log);
    closers.push(() => workerSyncs.stop());

    const activities = createActivities({ amqp, tss: tss.db, tssStore, esr, client, alerter, coj: cojSettings(config), amqpUrl: config.amqp.url, taskQueue: config.temporal.taskQueue, workerReplies, workerSyncs });
    const identity = overrides.identity ?? workerIdentity({ host: os.hostname(), pid: process.pid, ...(metricsPort !== undefined && { metricsPort }) });
    const common = { connection, namespace: config.temporal.namespace, ...workflowSource(overrides.workflowBundlePath), activities, identity, shutdownGraceTime: '10 seconds' as const, ...dataConverter(config.temporal) };
    const worker = await Worker.create({
      ...common,
      taskQueue: config.temporal.taskQueue,
      // A first publish waiting in the worker for its acknowledgement (WorkerReplies, WorkerSyncs) holds its
      // workflow task for up to seconds while the process does nothing for it: slots for those waits beside
      // the SDK's 40 for the tasks that work, so that waits do not stop other runs' tasks.
      maxConcurrentWorkflowTaskExecutions: 40 + WAITS_AT_ONCE,
      ...overrides.worker,
    });
    // Two singletons for the whole cluster: a few slots are plenty, and the same process's cache and connection serve them.
    const watchers = await Worker.create({ ...common, taskQueue: watchersTaskQueue(config.temporal.taskQueue), maxConcurrentWorkflowTaskExecutions: 4, maxConcurrentActivityTaskExecutions: 8 });
    // Every worker listens for acknowledgements: competing consumers, so any worker may take any reply.
    const listener = listens ? startAcknowledgementListener({ amqpUrl: config.amqp.url, client, log, connectionName: `${name}:acknowledgements`, workerReplies }) : undefined;
    // Synced mode's optional sources (COJ_RECEIVED, TCS's dead-lettered rejections), where TIS provides them.
    const tisEvents =
      listens && config.coj.acknowledgement === 'synced'
        ? startTisEventsListener({ amqpUrl: config.amqp.url, client, log, connectionName: `${name}:tis-events`, receivedQueue: config.coj.receivedQueue, rejectionsQueue: config.coj.rejectionsQueue })
        : undefined;
    return {
      shutdown() {
        // Either may be stopping already (Ctrl-C: the SDK's runtime listens for SIGINT too).
        stopIfRunning(worker);
        stopIfRunning(watchers);
      },
      ready: Promise.all([listener?.ready, tisEvents?.ready]).then(() => undefined),
      async run() {
        try {
          // Either stopping (shutdown, a signal, a fatal error) stops the other: a worker polls both or neither.
          await Promise.all([worker.run().finally(() => stopIfRunning(watchers)), watchers.run().finally(() => stopIfRunning(worker))]);
        } finally {
          // Stop taking replies first: any not yet handed over go back to the queue for another worker.
          await Promise.all([listener?.stop(), tisEvents?.stop()]);
          await closeAll();
        }
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

function stopIfRunning(worker: Worker): void {
  if (worker.getState() === 'RUNNING') worker.shutdown();
}

/** The SDK allows one runtime per process; workers started after the first share it. */
let runtimeInstalled = false;

/**
 * Installs the process-wide Temporal runtime: SDK logs through our logger, SDK metrics on a loopback
 * Prometheus port (`sdkMetricsPort`; served to scrapers by metrics-server.ts together with ours), and
 * graceful shutdown on SIGINT/SIGTERM (in-flight activities get the grace time).
 */
function installRuntime(config: Config, log: Logger, sdkMetricsPort?: number): void {
  runtimeInstalled = true;
  const sdkLog = log.child({ component: 'temporal-sdk' });
  const levels: Record<LogLevel, (msg: string, meta?: Record<string, unknown>) => void> = {
    TRACE: (m, meta) => sdkLog.trace(meta ?? {}, m),
    DEBUG: (m, meta) => sdkLog.debug(meta ?? {}, m),
    INFO: (m, meta) => sdkLog.info(meta ?? {}, m),
    WARN: (m, meta) => sdkLog.warn(meta ?? {}, m),
    ERROR: (m, meta) => sdkLog.error(meta ?? {}, m),
  };
  Runtime.install({
    logger: new DefaultLogger(config.logLevel.toUpperCase() as LogLevel, (entry) => levels[entry.level](entry.message, entry.meta)),
    ...(sdkMetricsPort !== undefined && {
      // countersTotalSuffix: Prometheus names counters *_total (`promtool check metrics` rejects the page
      // otherwise), and so do the other Temporal SDKs, whose dashboards then read ours too.
      telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkMetricsPort}`, countersTotalSuffix: true } } },
    }),
  });
}

/**
 * For a process that runs a worker but is not one (the benchmarks, the tests): the runtime with the SDK's
 * logs at `logLevel` (its INFO lines would drown the figures) and no metrics port. Call before startWorker.
 */
export function quietRuntime(config: Config, logLevel: Config['logLevel'] = 'warn', log: Logger = createLogger({ ...config, logLevel }, 'tisw')): void {
  if (runtimeInstalled) return;
  installRuntime({ ...config, logLevel, metricsPort: 0 }, log);
}
