/**
 * Once per `jest` run: its own Temporal dev server and FerretDB on free ports with throwaway data, and
 * the workflow bundle built once for every test file. Each jest worker process gets a RabbitMQ vhost, a
 * Temporal namespace, a task queue and a database of its own (per-worker-env.ts fills in {worker}), so that
 * test files running side by side never see each other's messages, activities, schedules, fixed-id
 * workflows (the ESR lane, the monitor) or stores; files in one worker run one at a time.
 * Test files find all of it through the same environment variables production uses (loadConfig).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { loadConfig } from '../../src/config/config';
import { assertTestDatabase } from '../support/test-database';
import { freePort } from '../../src/local/ports';
import { connectClient, ensureSearchAttributes } from '../../src/adapters/temporal';
import { addVhost, deadLetterTcsRejections, deleteVhost, LOCAL_TIS_QUEUES, listVhosts } from '../../src/local/rabbitmq';
import { writeWorkflowBundle } from '../../src/worker/workflow-bundle';
import { startLocalStack, withDatabase, type LocalStack } from '../../src/local/stack';
import { isAlive } from '../../src/local/child';
import { abandonedRuns, dropRunDatabases, removeRunState, writeRunState, type RunState } from './run-state';

declare global {
  var tiswTestRun: { state: RunState; stack: LocalStack } | undefined;
}

export default async function globalSetup(globalConfig: { maxWorkers: number }): Promise<void> {
  const runId = `${process.pid}-${Date.now().toString(36)}`;
  const database = `tisw_test_${runId.replace('-', '_')}`;
  assertTestDatabase(database);
  const vhost = `tisw-test-${runId}`;
  const workers = Array.from({ length: Math.max(1, globalConfig.maxWorkers) }, (_, i) => i + 1);
  const vhosts = workers.map((w) => `${vhost}-w${w}`);
  const namespaces = workers.map((w) => `tisw-test-w${w}`);
  const databases = workers.map((w) => `${database}_w${w}`);
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), `tisw-test-${runId}-`));

  const stack = await startLocalStack({
    temporalPort: await freePort(),
    temporalNamespaces: namespaces,
    ferretdbListen: '127.0.0.1:0',
    postgresUrl: withDatabase(loadConfig({}).local.postgresUrl, 'tisw_test'),
    sqliteDir: path.join(tmpDir, 'ferretdb'),
    parentPid: process.pid,
    echo: false,
    warn: (message) => process.stderr.write(`test harness: ${message}\n`),
  });
  const state: RunState = { runId, ownerPid: process.pid, pids: stack.children.map((c) => c.pid), vhosts, namespaces, database, databases, tmpDir };
  writeRunState(state);
  globalThis.tiswTestRun = { state, stack };

  await sweepAbandonedRuns(stack.mongoUri);
  for (const v of vhosts) {
    await addVhost(v);
    await deadLetterTcsRejections(v);
  }
  const client = await connectClient({ address: stack.temporalAddress, namespace: 'default', taskQueue: 'unused' });
  try {
    for (const namespace of namespaces) await ensureSearchAttributes(client, namespace);
  } finally {
    await client.connection.close();
  }

  const bundlePath = path.join(tmpDir, 'workflow-bundle.js');
  await writeWorkflowBundle(bundlePath);

  Object.assign(process.env, {
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_NAMESPACE: 'tisw-test-w{worker}',
    // Each jest worker's own database, as its own vhost, namespace and task queue: a file's reference TIS sync
    // reads the whole TIS store, and would sync back the CoJs of a file beside it that plays TIS's sync down.
    MONGODB_URI: `${stack.mongoUri}${database}_w{worker}`,
    AMQP_URL: `amqp://guest:guest@127.0.0.1:5672/${vhost}-w{worker}`,
    TEMPORAL_TASK_QUEUE: 'tis-workflows-test-w{worker}',
    TISW_DATA_DIR: path.join(tmpDir, 'data'),
    TISW_METRICS_PORT: '0',
    // The files of a jest worker share its TSS test database: a `tisw worker` a file starts makes the reconciliation
    // schedule, which every 2 minutes would start a run for any unsynced CoJ of any file. Once a day here, as in the
    // benchmark; the tests of reconciliation set their own interval.
    COJ_RECONCILE_EVERY_MINUTES: '1440',
    // The suites written for the reply contract say so here; a test of the default modes sets them itself.
    COJ_ACKNOWLEDGEMENT: 'reply',
    ESR_ACKNOWLEDGEMENT: 'reply',
    // The broker plays TIS's for synced mode, as `tisw up` does.
    COJ_REJECTIONS_QUEUE: LOCAL_TIS_QUEUES.cojRejections,
    COJ_RECEIVED_QUEUE: LOCAL_TIS_QUEUES.cojReceived,
    TISW_WORKFLOW_BUNDLE: bundlePath,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  });
}

/** Cleans up after earlier runs whose jest died before its teardown. */
async function sweepAbandonedRuns(mongoUri: string): Promise<void> {
  const abandoned = abandonedRuns();
  const client = new MongoClient(mongoUri, { serverSelectionTimeoutMS: 5000 });
  try {
    for (const run of abandoned) {
      for (const pid of run.pids) {
        const cmdline = readCmdline(pid);
        // The servers, and the fault suite's `tisw worker` / `tisw receivers` processes.
        if (isAlive(pid) && /temporal|ferretdb-local|tisw\.js/.test(cmdline)) process.kill(pid, 'SIGKILL');
      }
      await dropRunDatabases(client, run);
      for (const v of run.vhosts ?? []) await deleteVhost(v).catch(() => undefined);
      fs.rmSync(run.tmpDir, { recursive: true, force: true });
      removeRunState(run.runId);
    }
  } finally {
    await client.close();
  }
  // Vhosts of runs that left no state file at all (killed between creating the two).
  const live = new Set(globalThis.tiswTestRun?.state.vhosts ?? []);
  for (const vhost of await listVhosts()) {
    if (vhost.startsWith('tisw-test-') && !live.has(vhost) && !isAlive(Number(/^tisw-test-(\d+)-/.exec(vhost)?.[1]))) {
      await deleteVhost(vhost).catch(() => undefined);
    }
  }
}

function readCmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}
