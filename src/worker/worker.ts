/**
 * One worker process: the workflows and activities of tis-workflows on the one task queue. Run several
 * (`tisw worker` N times, on one machine or many) and Temporal shares the work among them.
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
import { clientOver, connectWorker, dataConverter } from '../adapters/temporal';
import { TssStore } from '../adapters/tss-store';
import { cojSettings } from '../client/coj';
import { workerReplyQueue } from '../adapters/amqp-topology';
import { startAcknowledgementListener } from './acknowledgement-listener';
import { WorkerReplies } from './worker-replies';
import { createActivities } from '../activities';
import { workflowSource } from './workflow-bundle';

export interface TiswWorker {
  worker: Worker;
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

export async function createWorker(config: Config, log: Logger, overrides: WorkerOverrides = {}): Promise<TiswWorker> {
  const name = `tisw-worker@${os.hostname()}:${process.pid}`;
  const closers: Array<() => Promise<unknown>> = [];
  const closeAll = async (): Promise<void> => {
    await Promise.allSettled(closers.reverse().map((close) => close()));
  };
  try {
    const amqp = new AmqpPublisher({ ...config.amqp, connectionName: name, log });
    closers.push(() => amqp.close());
    const tss = await openMongo(config.mongo.tss, 'tisw-worker');
    closers.push(() => tss.close());
    const tssStore = new TssStore(tss.db);
    await tssStore.ensureIndexes();
    const esr = await EsrStore.open(config.mongo.esr, 'tisw-worker');
    closers.push(() => esr.close());
    const connection = await connectWorker(config.temporal);
    closers.push(() => connection.close());
    const client = clientOver(connection, config.temporal);
    const alerter = new Alerter({ log, ...config.alerts });
    const listens = overrides.acknowledgementListener !== false;
    // The reply queue is this process's alone: several workers may share a host, a pid and even a process (tests).
    const workerReplies = listens ? new WorkerReplies(workerReplyQueue(`${os.hostname()}.${process.pid}.${randomBytes(4).toString('hex')}`), config.coj.replyWaitMs) : undefined;

    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      ...workflowSource(overrides.workflowBundlePath),
      activities: createActivities({ amqp, tss: tss.db, tssStore, esr, client, alerter, coj: cojSettings(config), amqpUrl: config.amqp.url, workerReplies }),
      identity: overrides.identity ?? name,
      shutdownGraceTime: '10 seconds',
      ...dataConverter(config.temporal),
      ...overrides.worker,
    });
    // Every worker listens for acknowledgements: competing consumers, so any worker may take any reply.
    const listener = listens ? startAcknowledgementListener({ amqpUrl: config.amqp.url, client, log, connectionName: `${name}:acknowledgements`, workerReplies }) : undefined;
    return {
      worker,
      ready: listener?.ready ?? Promise.resolve(),
      async run() {
        try {
          await worker.run();
        } finally {
          // Stop taking replies first: any not yet handed over go back to the queue for another worker.
          await listener?.stop();
          await closeAll();
        }
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/**
 * Installs the process-wide Temporal runtime: SDK logs through our logger, SDK metrics on a loopback
 * Prometheus port (`sdkMetricsPort`; served to scrapers by metrics-server.ts together with ours), and
 * graceful shutdown on SIGINT/SIGTERM (in-flight activities get the grace time).
 * Call once, before creating a worker.
 */
export function installRuntime(config: Config, log: Logger, sdkMetricsPort?: number): void {
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
      telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkMetricsPort}` } } },
    }),
  });
}

/** For the benchmarks, which run a worker in the CLI's process: the SDK's INFO lines would drown the figures. */
export function quietRuntime(config: Config): void {
  installRuntime({ ...config, logLevel: 'warn', metricsPort: 0 }, createLogger({ ...config, logLevel: 'warn' }, 'tisw-bench'));
}
