/**
 * A throwaway copy of the whole local system for one benchmark run (or the fault suite's table): its own
 * Temporal dev server (state in a SQLite file with WAL, as `tisw up` runs it) and FerretDB database, a
 * RabbitMQ vhost of its own on the configured broker (or a private broker of the caller's), and
 * `tisw worker` / `tisw receivers` as separate processes, as in production, so that the worker's memory
 * is its own. Everything is removed afterwards.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { loadConfig, type Config } from '../src/config/config';
import { spawnTisw, type Child } from '../src/local/child';
import { freePort } from '../src/local/ports';
import { openVhost } from '../src/local/rabbitmq';
import { startLocalStack, withDatabase, type LocalStack } from '../src/local/stack';
import { waitForPollers } from '../src/local/up';

export interface BenchSystem {
  config: Config;
  env: NodeJS.ProcessEnv;
  stack: LocalStack;
  /** The run's temporary directory (Temporal's db file, app files); removed by stop(). */
  tmpDir: string;
  /** The MongoDB database every store of the system uses. */
  database: string;
  /** `env`: more environment for this process alone (e.g. a worker's metrics port). */
  startTisw(command: 'worker' | 'receivers' | 'receivers --no-tis-sync' | 'tis-sync', env?: NodeJS.ProcessEnv): Child;
  /** Waits until every worker started (and not ended) polls the task queue. */
  waitForWorker(): Promise<void>;
  stop(): Promise<void>;
}

export interface BenchSystemOptions {
  /** A broker of the caller's (vhost "/"), instead of a vhost made on the configured one. */
  amqpUrl?: string;
  /** Names the database, vhost and files: tests pass one containing "test". @default tisw-bench */
  prefix?: string;
  /** More environment for the processes, e.g. shortened thresholds. */
  env?: NodeJS.ProcessEnv;
  /** PostgreSQL database behind the system's FerretDB. @default tisw_bench */
  postgresDatabase?: string;
}

export async function startBenchSystem(base: Config, name: string, options: BenchSystemOptions = {}): Promise<BenchSystem> {
  const prefix = options.prefix ?? 'tisw-bench';
  const id = `${name}-${process.pid}`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-${id}-`));
  const stack = await startLocalStack({
    temporalPort: await freePort(),
    temporalDbFile: path.join(tmp, 'temporal.db'),
    ferretdbListen: '127.0.0.1:0',
    postgresUrl: withDatabase(base.local.postgresUrl, options.postgresDatabase ?? 'tisw_bench'),
    sqliteDir: path.join(tmp, 'ferretdb'),
    parentPid: process.pid,
    echo: false,
    warn: (m) => process.stderr.write(`bench: ${m}\n`),
  });
  const database = `${prefix.replace(/-/g, '_')}_${process.pid}`;
  const children: Child[] = [];
  let vhost: Awaited<ReturnType<typeof openVhost>> | undefined;
  try {
    if (options.amqpUrl === undefined) vhost = await openVhost(base.amqp.url, `${prefix}-${id}`);
  } catch (err) {
    await stack.stop();
    throw new Error(`the benchmark needs a RabbitMQ vhost of its own, made with rabbitmqctl (run as root): ${(err as Error).message}`);
  }
  const amqpUrl = options.amqpUrl ?? vhost?.url ?? base.amqp.url;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    MONGODB_URI: `${stack.mongoUri}${database}`,
    TSS_MONGODB_URI: '',
    TIS_MONGODB_URI: '',
    ESR_MONGODB_URI: '',
    AMQP_URL: amqpUrl,
    TISW_ESR_FILES_DIR: path.join(tmp, 'esr-files'),
    TISW_METRICS_PORT: '0',
    LOG_LEVEL: 'warn',
    // Reconciliation would find the burst's CoJs (signed, not yet synced) and submit them again mid-run:
    // real work, but not the work being measured.
    COJ_RECONCILE_EVERY_MINUTES: '1440',
    ...options.env,
  };
  const config = loadConfig(env);
  return {
    config,
    env,
    stack,
    tmpDir: tmp,
    database,
    startTisw(command, own = {}) {
      const child = spawnTisw(command, { echo: false, env: { ...env, ...own } });
      children.push(child);
      return child;
    },
    async waitForWorker() {
      // The server lists a dead worker for minutes: wait for those running now. A worker killed on purpose
      // (process.killed) is not a failure to start.
      const live = children.filter((c) => c.name === 'worker' && !c.exited());
      await waitForPollers(config, live, 60_000, () => children.find((c) => c.exited() && !c.process.killed)?.exited());
    },
    async stop() {
      await Promise.allSettled(children.map((c) => c.stop()));
      const mongo = new MongoClient(stack.mongoUri, { serverSelectionTimeoutMS: 5000 });
      await mongo.db(database).dropDatabase().catch(() => undefined);
      await mongo.close();
      await vhost?.remove();
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
