import fs from 'node:fs';
import { MongoClient } from 'mongodb';
import { deleteVhost } from '../../src/local/rabbitmq';
import { dropRunDatabases, removeRunState } from './run-state';
import { HISTORIES_DIR, recordHistories } from './record-histories';

/** Leaves nothing behind: the run's database, vhost, servers and files, whether or not tests failed. */
export default async function globalTeardown(): Promise<void> {
  const run = globalThis.tiswTestRun;
  if (!run) return;
  const { state, stack } = run;
  if (process.env.TISW_RECORD_HISTORIES === '1') {
    try {
      const written = await recordHistories(stack.temporalAddress, state.namespaces);
      process.stderr.write(`recorded ${written} workflow histories in ${HISTORIES_DIR}\n`);
    } catch (err) {
      process.stderr.write(`recording workflow histories failed: ${(err as Error).message}\n`); // the cleanup below still runs
    }
  }
  const client = new MongoClient(stack.mongoUri, { serverSelectionTimeoutMS: 5000 });
  try {
    await dropRunDatabases(client, state);
  } finally {
    await client.close();
  }
  for (const vhost of state.vhosts) await deleteVhost(vhost);
  await stack.stop();
  fs.rmSync(state.tmpDir, { recursive: true, force: true });
  removeRunState(state.runId);
  globalThis.tiswTestRun = undefined;
}
