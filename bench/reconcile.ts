/**
 * `tisw bench reconcile`: what one reconciliation round costs TSS's store. Reconciliation reads TSS's store
 * only (TssStore.findUnsynced: the CoJs signed, syncedAt null, older than COJ_RECONCILE_AFTER_SECONDS), every
 * COJ_RECONCILE_EVERY_MINUTES; this times that read over a store of P profiles (default 100,000, each with a
 * signed CoJ) of which U (default 100) are not yet synced, on a FerretDB of its own (PostgreSQL backend where
 * PostgreSQL answers, as `tisw up` runs it). It also asks the server how many documents the query examined
 * (`explain` with executionStats); FerretDB 1.24 does not say, and the figure is then absent.
 * Seeding uses bulk inserts of 1,000 profiles, and its time is printed apart.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../src/config/config';
import { openMongo } from '../src/adapters/mongo';
import { TssStore, type TraineeProfileDoc } from '../src/adapters/tss-store';
import { ensureServersBuilt } from '../src/local/servers';
import { startFerretDb } from '../src/local/ferretdb';
import { isListening } from '../src/local/ports';
import { withDatabase } from '../src/local/stack';
import { median, nowMs, round, type ProgressBars } from './measure';

export interface ReconcileBenchOptions {
  /** Profiles in TSS's store. @default 100000 */
  profiles: number;
  /** Of those, CoJs not yet synced (signed an hour ago, syncedAt null). @default 100 */
  unsynced: number;
  /** findUnsynced rounds timed, one after another. @default 3 */
  rounds: number;
  progress: ProgressBars;
}

export interface ReconcileBenchFigures {
  profiles: number;
  unsynced: number;
  backend: 'postgresql' | 'sqlite';
  seedingMs: number;
  /** Each round's time, ms. */
  roundsMs: number[];
  medianRoundMs: number;
  /** CoJs each round found (must equal `unsynced`). */
  found: number;
  /** Documents the server examined for the query, when its explain says (MongoDB does; FerretDB 1.24 does not). */
  docsExamined: number | null;
}

const BATCH = 1000;

export async function runReconcileBench(base: Config, options: ReconcileBenchOptions): Promise<ReconcileBenchFigures> {
  const bins = await ensureServersBuilt();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tisw-bench-reconcile-'));
  const pg = new URL(base.local.postgresUrl);
  const postgres = await isListening(pg.hostname, Number(pg.port || 5432));
  const ferretdb = await startFerretDb({
    bin: bins.ferretdb,
    listen: '127.0.0.1:0',
    backend: postgres ? { kind: 'postgresql', url: withDatabase(base.local.postgresUrl, 'tisw_bench') } : { kind: 'sqlite', dir: path.join(tmp, 'ferretdb') },
    parentPid: process.pid,
    echo: false,
  });
  const database = `tisw_bench_reconcile_${process.pid}`;
  const mongo = await openMongo({ uri: `${ferretdb.uri}${database}`, database }, 'tisw-bench');
  try {
    const store = new TssStore(mongo.db, base.mongo.tssProfilesCollection);
    const signedAt = new Date(Date.now() - 3_600_000);
    const syncedAt = new Date(signedAt.getTime() + 5_000);
    // The unsynced ones spread evenly through the collection, as real ones would be.
    const every = Math.max(1, Math.floor(options.profiles / Math.max(1, options.unsynced)));
    const profile = (i: number): TraineeProfileDoc => ({
      _id: String(1_000_000 + i),
      traineeTisId: String(1_000_000 + i),
      version: 1,
      programmeMemberships: [{ tisId: randomUUID(), conditionsOfJoining: { signedAt, version: 'GG10', syncedAt: i % every === 0 && i / every < options.unsynced ? null : syncedAt } }],
    });
    const bar = options.progress('seeding profiles', options.profiles);
    const seedStart = nowMs();
    for (let i = 0; i < options.profiles; i += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, options.profiles - i) }, (_, j) => profile(i + j));
      await store.profiles.insertMany(batch, { ordered: false });
      bar.tick(batch.length);
    }
    bar.stop();
    const seedingMs = round(nowMs() - seedStart, 0);

    const before = new Date(Date.now() - base.coj.reconcileAfterMs);
    const roundsMs: number[] = [];
    let found = 0;
    for (let r = 0; r < options.rounds; r++) {
      const t0 = nowMs();
      found = (await store.findUnsynced({ before })).length;
      roundsMs.push(round(nowMs() - t0, 1));
    }
    return {
      profiles: options.profiles,
      unsynced: options.unsynced,
      backend: postgres ? 'postgresql' : 'sqlite',
      seedingMs,
      roundsMs,
      medianRoundMs: median(roundsMs),
      found,
      docsExamined: await docsExamined(store, before),
    };
  } finally {
    await mongo.db.dropDatabase().catch(() => undefined);
    await mongo.close();
    await ferretdb.child.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** totalDocsExamined from the server's explain of findUnsynced's query, if it reports one. */
async function docsExamined(store: TssStore, before: Date): Promise<number | null> {
  try {
    const plan = (await store.profiles.find({ 'programmeMemberships.conditionsOfJoining.syncedAt': null, 'programmeMemberships.conditionsOfJoining.signedAt': { $lt: before } }).explain('executionStats')) as {
      executionStats?: { totalDocsExamined?: number };
    };
    return typeof plan.executionStats?.totalDocsExamined === 'number' ? plan.executionStats.totalDocsExamined : null;
  } catch {
    return null;
  }
}

export function printReconcileBench(f: ReconcileBenchFigures, print: (line: string) => void): void {
  print(`reconciliation — one findUnsynced round over TSS's store, FerretDB on ${f.backend}`);
  print(`  store                         ${f.profiles.toLocaleString('en-GB')} profiles, ${f.unsynced} CoJs not yet synced (seeded in ${f.seedingMs} ms)`);
  print(`  one round                     median ${f.medianRoundMs} ms (rounds: ${f.roundsMs.join(', ')} ms); found ${f.found}`);
  print(`  documents examined            ${f.docsExamined ?? 'not reported by the server'}`);
}
