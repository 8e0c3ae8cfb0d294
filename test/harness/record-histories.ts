/**
 * With TISW_RECORD_HISTORIES=1, the global teardown keeps the histories of the runs the tests made (up to
 * PER_TYPE closed runs of each workflow type, from every test namespace) in test/replay-histories/, as
 * <type>-<n>-<namespace>.pb. They are committed, and test/replay.test.ts replays them against the current
 * workflow code, so a change that would break runs in flight fails CI. Recording overwrites those names:
 * to keep the histories from before a change beside the new ones (as a patched change must), rename them
 * first; docs/changing-workflows.md gives the procedure.
 */
import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { connectClient } from '../../src/adapters/temporal';
import { ENCRYPTED_ENCODING } from '../../src/adapters/payload-codec';

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
        const history = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
        // Runs of the payload-codec and secrets tests carry encrypted payloads, which the replay test (no key) cannot read.
        if (encrypted(history)) continue;
        perType.set(run.type, count + 1);
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

/** Whether any payload of the run (input, activity results, signals, memo) is encrypted: searched in the encoded history. */
function encrypted(history: temporal.api.history.v1.IHistory): boolean {
  return Buffer.from(temporal.api.history.v1.History.encode(history).finish()).includes(ENCRYPTED_ENCODING);
}
