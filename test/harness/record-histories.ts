/**
 * With TISW_RECORD_HISTORIES=1, the global teardown keeps the histories of the runs the tests made (a few
 * closed runs of each workflow type, from every test namespace) in test/replay-histories/. They are
 * committed, and test/replay.test.ts replays them against the current workflow code: a change that would
 * break workflows already running in production fails CI. Record again after a deliberate, patched change,
 * and keep the older histories beside the new (a new file name, e.g. cojSubmissionWorkflow-4-stage-shown-at-start.pb,
 * then `git checkout` the overwritten ones): both sides of the patch must go on replaying.
 */
import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { connectClient } from '../../src/adapters/temporal';

export const HISTORIES_DIR = path.join(__dirname, '..', 'replay-histories');
const PER_TYPE = 3;

export async function recordHistories(address: string, namespaces: string[]): Promise<number> {
  fs.mkdirSync(HISTORIES_DIR, { recursive: true });
  let written = 0;
  for (const namespace of namespaces) {
    const client = await connectClient({ address, namespace, taskQueue: 'unused' });
    try {
      const perType = new Map<string, number>();
      for await (const run of client.workflow.list({ query: `ExecutionStatus != 'Running'` })) {
        const count = perType.get(run.type) ?? 0;
        // Completed and failed runs replay; terminated ones end mid-way by an outside hand, which is fine too.
        if (count >= PER_TYPE) continue;
        perType.set(run.type, count + 1);
        const history = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
        // Binary protobuf: exact, and free of the JSON converters' version coupling.
        fs.writeFileSync(path.join(HISTORIES_DIR, `${run.type}-${count + 1}-${namespace}.pb`), temporal.api.history.v1.History.encode(history).finish());
        written++;
      }
    } finally {
      await client.connection.close();
    }
  }
  return written;
}
