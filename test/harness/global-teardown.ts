import fs from 'node:fs';
import { MongoClient } from 'mongodb';
import { assertTestDatabase } from '../../src/adapters/mongo';
import { deleteVhost } from '../../src/local/rabbitmq';
import { removeRunState } from './run-state';

/** Leaves nothing behind: the run's database, vhost, servers and files, whether or not tests failed. */
export default async function globalTeardown(): Promise<void> {
  const run = globalThis.tiswTestRun;
  if (!run) return;
  const { state, stack } = run;
  const client = new MongoClient(stack.mongoUri, { serverSelectionTimeoutMS: 5000 });
  try {
    assertTestDatabase(state.database);
    await client.db(state.database).dropDatabase();
  } finally {
    await client.close();
  }
  for (const vhost of state.vhosts) await deleteVhost(vhost);
  await stack.stop();
  fs.rmSync(state.tmpDir, { recursive: true, force: true });
  removeRunState(state.runId);
  globalThis.tiswTestRun = undefined;
}
