/**
 * What a test run started, written to a file so that a later run can clean up after one that crashed
 * (a killed jest skips its teardown): servers still running, its vhost, its database.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MongoClient } from 'mongodb';
import { isAlive } from '../../src/local/child';
import { assertTestDatabase } from '../support/test-database';

export interface RunState {
  runId: string;
  ownerPid: number;
  pids: number[];
  vhosts: string[];
  namespaces: string[];
  database: string;
  /** Each jest worker's database (the test harness); `database` alone where there is one. */
  databases?: string[];
  tmpDir: string;
}

/** Drops every database a run made, each checked to be a test database first. */
export async function dropRunDatabases(client: MongoClient, run: RunState): Promise<void> {
  for (const name of [run.database, ...(run.databases ?? [])]) {
    assertTestDatabase(name);
    await client.db(name).dropDatabase();
  }
}

export const RUNS_DIR = path.join(os.tmpdir(), 'tisw-test-runs');

export function writeRunState(state: RunState): void {
  fs.mkdirSync(RUNS_DIR, { recursive: true });
  fs.writeFileSync(path.join(RUNS_DIR, `${state.runId}.json`), JSON.stringify(state));
}

export function removeRunState(runId: string): void {
  fs.rmSync(path.join(RUNS_DIR, `${runId}.json`), { force: true });
}

/** Runs whose jest process is gone. */
export function abandonedRuns(): RunState[] {
  if (!fs.existsSync(RUNS_DIR)) return [];
  return fs
    .readdirSync(RUNS_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(RUNS_DIR, f), 'utf8')) as RunState)
    .filter((s) => !isAlive(s.ownerPid));
}
