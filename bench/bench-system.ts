/**
 * A throwaway copy of the whole local system for one benchmark run: its own Temporal dev server (state
 * in a SQLite file with WAL, as `tisw up` runs it) and FerretDB database, a RabbitMQ vhost of its own on
 * the configured broker, and `tisw worker` / `tisw receivers` as separate processes, as in production,
 * so that the worker's memory is its own. Everything is removed afterwards.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { loadConfig, type Config } from '../src/config/config';
import { spawnTisw, type Child } from '../src/local/child';
import { freePort, waitFor } from '../src/local/ports';
import { addVhost, deleteVhost } from '../src/local/rabbitmq';
import { startLocalStack, withDatabase, type LocalStack } from '../src/local/stack';
import { connectClient } from '../src/adapters/temporal';

export interface BenchSystem {
  config: Config;
  env: NodeJS.ProcessEnv;
  stack: LocalStack;
  startTisw(command: 'worker' | 'receivers'): Child;
  waitForWorker(): Promise<void>;
  stop(): Promise<void>;
}

export async function startBenchSystem(base: Config, name: string): Promise<BenchSystem> {
  const id = `${name}-${process.pid}`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `tisw-bench-${id}-`));
  const stack = await startLocalStack({
    temporalPort: await freePort(),
    temporalDbFile: path.join(tmp, 'temporal.db'),
    ferretdbListen: '127.0.0.1:0',
    postgresUrl: withDatabase(base.local.postgresUrl, 'tisw_bench'),
    sqliteDir: path.join(tmp, 'ferretdb'),
    parentPid: process.pid,
    echo: false,
    warn: (m) => process.stderr.write(`bench: ${m}\n`),
  });
  const vhost = `tisw-bench-${id}`;
  const database = `tisw_bench_${process.pid}`;
  const children: Child[] = [];
  try {
    await addVhost(vhost);
  } catch (err) {
    await stack.stop();
    throw new Error(`the benchmark needs a RabbitMQ vhost of its own, made with rabbitmqctl (run as root): ${(err as Error).message}`);
  }
  const amqp = new URL(base.amqp.url);
  amqp.pathname = `/${vhost}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    MONGODB_URI: `${stack.mongoUri}${database}`,
    TSS_MONGODB_URI: '',
    TIS_MONGODB_URI: '',
    ESR_MONGODB_URI: '',
    AMQP_URL: amqp.toString(),
    TISW_ESR_FILES_DIR: path.join(tmp, 'esr-files'),
    TISW_METRICS_PORT: '0',
    LOG_LEVEL: 'warn',
  };
  const config = loadConfig(env);
  return {
    config,
    env,
    stack,
    startTisw(command) {
      const child = spawnTisw(command, { echo: false, env });
      children.push(child);
      return child;
    },
    async waitForWorker() {
      const client = await connectClient(config.temporal);
      try {
        await waitFor('the benchmark worker', async () => {
          const { pollers } = await client.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: config.temporal.taskQueue }, taskQueueType: 1 });
          return pollers.length > 0;
        }, 60_000, () => children.find((c) => c.exited())?.exited());
      } finally {
        await client.connection.close();
      }
    },
    async stop() {
      await Promise.allSettled(children.map((c) => c.stop()));
      const mongo = new MongoClient(stack.mongoUri, { serverSelectionTimeoutMS: 5000 });
      await mongo.db(database).dropDatabase().catch(() => undefined);
      await mongo.close();
      await deleteVhost(vhost).catch(() => undefined);
      await stack.stop();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** Resident and peak memory of a process, in MiB, from /proc (Linux). */
export function memoryOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: Math.round(kib('VmRSS') / 102.4) / 10, peakMiB: Math.round(kib('VmHWM') / 102.4) / 10 };
}
