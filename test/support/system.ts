/**
 * What a test file needs to talk to the run's servers (started by the global setup): the config from
 * the environment, a quiet logger, a Temporal client, and a worker running in this process.
 */
import { loadConfig, type Config } from '../../src/config/config';
import { createLogger, type Logger } from '../../src/config/logger';
import { connectClient } from '../../src/adapters/temporal';
import { setSchedulePaused } from '../../src/client/schedules';
import { quietRuntime as installQuietRuntime, startWorker, type StartWorkerOptions, type TiswWorker } from '../../src/worker/worker';
import type { Client } from '@temporalio/client';

/** The SDK's own logs through the test logger (errors only), instead of its default INFO chatter. */
export function quietRuntime(config: Config): void {
  installQuietRuntime(config, 'error', testLogger(config));
}

export function testConfig(): Config {
  return loadConfig();
}

export function testLogger(config: Config = testConfig()): Logger {
  return createLogger({ ...config, logLevel: process.env.LOG_LEVEL === 'debug' ? 'debug' : 'error' }, 'test');
}

export async function testClient(config: Config = testConfig()): Promise<Client> {
  return connectClient(config.temporal);
}

/** Runs `fn` while a worker of ours (started as production starts one, without the cluster's schedules and monitor) polls the task queue in this process, then shuts it down. */
export async function withWorker<T>(fn: (worker: TiswWorker) => Promise<T>, config: Config = testConfig(), overrides: StartWorkerOptions = {}): Promise<T> {
  quietRuntime(config);
  const worker = await startWorker(config, testLogger(config), { ensureClusterSetup: false, ...overrides });
  const running = worker.run();
  try {
    await worker.ready;
    return await fn(worker);
  } finally {
    worker.shutdown();
    await running;
  }
}

/** The statuses of every run with this workflow id, newest first (visibility may lag a moment). */
export function runStatuses(client: Client, workflowId: string): Promise<string[]> {
  return runStatusesWhere(client, `WorkflowId = '${workflowId}'`);
}

/** The statuses of the runs a visibility query finds, as the Temporal UI and `tisw stuck` find them. */
export async function runStatusesWhere(client: Client, query: string): Promise<string[]> {
  const statuses: string[] = [];
  for await (const run of client.workflow.list({ query })) statuses.push(run.status.name);
  return statuses;
}

/** Pauses a schedule the way `tisw schedule pause` does: returns once the server shows it paused. */
export async function pauseSchedule(client: Client, scheduleId: string, note: string): Promise<void> {
  await setSchedulePaused(client.schedule.getHandle(scheduleId), true, note);
}

/** Awaits `promise`, failing with `what` if it takes longer than `ms`: a hung step names itself. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
