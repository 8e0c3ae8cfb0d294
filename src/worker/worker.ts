/**
 * One worker process: the workflows and activities of tis-workflows on the one task queue. Run several
 * (`tisw worker` N times, on one machine or many) and Temporal shares the work among them.
 */
import os from 'node:os';
import { DefaultLogger, Runtime, Worker, type LogLevel, type WorkerOptions } from '@temporalio/worker';
import type { Config } from '../config/config';
import type { Logger } from '../config/logger';
import { AmqpPublisher } from '../adapters/amqp';
import { Alerter } from '../adapters/alerts';
import { EsrStore } from '../adapters/esr-store';
import { openMongo } from '../adapters/mongo';
import { connectWorker } from '../adapters/temporal';
import { createActivities } from '../activities';
import { TASK_QUEUE } from '../shared/contract';
import { workflowSource } from './workflow-bundle';

export interface TiswWorker {
  worker: Worker;
  /** Runs until shutdown() (or a signal, for a process-wide Runtime), then closes what it opened. */
  run(): Promise<void>;
}

export interface WorkerOverrides {
  /** A prebuilt workflow bundle; default: see workflowSource(). */
  workflowBundlePath?: string;
  identity?: string;
  /** Extra Worker options, e.g. for benchmarks. */
  worker?: Partial<WorkerOptions>;
}

export async function createWorker(config: Config, log: Logger, overrides: WorkerOverrides = {}): Promise<TiswWorker> {
  const amqp = new AmqpPublisher({ ...config.amqp, connectionName: `tisw-worker@${os.hostname()}:${process.pid}`, log });
  const tss = await openMongo(config.mongo.tss, 'tisw-worker');
  const esr = await EsrStore.open(config.mongo.esr, 'tisw-worker');
  const alerter = new Alerter({ log, ...(config.alerts.webhookUrl !== undefined && { webhookUrl: config.alerts.webhookUrl }) });
  const connection = await connectWorker(config.temporal);
  let worker: Worker;
  try {
    worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: TASK_QUEUE,
      ...workflowSource(overrides.workflowBundlePath),
      activities: createActivities({ amqp, tss: tss.db, esr, alerter }),
      identity: overrides.identity ?? `tisw-worker@${os.hostname()}:${process.pid}`,
      shutdownGraceTime: '10 seconds',
      ...overrides.worker,
    });
  } catch (err) {
    await Promise.allSettled([amqp.close(), tss.close(), esr.close(), connection.close()]);
    throw err;
  }
  return {
    worker,
    async run() {
      try {
        await worker.run();
      } finally {
        await Promise.allSettled([amqp.close(), tss.close(), esr.close(), connection.close()]);
      }
    },
  };
}

/**
 * Installs the process-wide Temporal runtime: SDK logs through our logger, SDK metrics on a Prometheus
 * endpoint, and graceful shutdown on SIGINT/SIGTERM (in-flight activities get the grace time).
 * Call once, before creating a worker, in a process that runs workers (not in tests).
 */
export function installRuntime(config: Config, log: Logger): void {
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
    ...(config.metricsPort > 0 && {
      telemetryOptions: { metrics: { prometheus: { bindAddress: `0.0.0.0:${config.metricsPort}` } } },
    }),
  });
}
