/**
 * After every test file: nothing of its own is left running in this jest worker's namespace, which the
 * next file in the same worker shares (with its task queue and TSS's test database). Left there, a
 * reconciliation schedule goes on submitting every unsynced CoJ of the database, and runs left waiting
 * are picked up by the next file's worker, resend, and fill its `tisw stuck`: failures that name the
 * wrong file. So, after each file:
 *  - the cluster's own setup, which every `tisw worker` a file starts makes by design (the schedules, the
 *    system monitor, the CoJ sync watcher, and the runs the schedules started), is removed without fuss;
 *  - any other run still running is the file's own leak: it is terminated, so that the next file starts
 *    clean, and fails this file, by name.
 */
import { connectClient } from '../../src/adapters/temporal';
import { loadConfig } from '../../src/config/config';

/** The cluster's own workflows: a `tisw worker` starts them, or its schedules do. */
const CLUSTER_WORKFLOW_TYPES = new Set(['systemMonitorWorkflow', 'cojSyncWatcherWorkflow', 'cojReconciliationWorkflow', 'esrRequestWorkflow']);

afterAll(async () => {
  const config = loadConfig();
  const client = await connectClient(config.temporal);
  const file = expect.getState().testPath ?? 'a test file';
  try {
    for await (const schedule of client.schedule.list()) await client.schedule.getHandle(schedule.scheduleId).delete();
    const left: string[] = [];
    for await (const run of client.workflow.list({ query: `ExecutionStatus = 'Running'` })) {
      // Visibility can lag a run that ended a moment ago: the run's own description is the truth.
      const handle = client.workflow.getHandle(run.workflowId, run.runId);
      if ((await handle.describe()).status.name !== 'RUNNING') continue;
      await handle.terminate(`left running by ${file}`).catch(() => undefined);
      if (!CLUSTER_WORKFLOW_TYPES.has(run.type)) left.push(`${run.workflowId} (${run.type})`);
    }
    if (left.length > 0) throw new Error(`this test file left ${left.length} workflow run(s) running: ${left.slice(0, 5).join(', ')}${left.length > 5 ? ', …' : ''}`);
  } finally {
    await client.connection.close();
  }
});
