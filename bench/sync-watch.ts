/**
 * `tisw bench sync-watch` (issue #14): what ONE round of the sync watcher costs (synced mode,
 * src/activities/coj-sync.activities.ts) with 100, 1,000 and 10,000 CoJs waiting on a TSS store of
 * 100,000 trainee profiles. A round is (1) one visibility listing of the runs waiting for their
 * acknowledgement, (2) TSS's profiles of their trainees, 1,000 trainees per `traineeTisId $in` query,
 * (3) a signal to each run whose signature the profile shows synced. Each size is measured in two cases:
 * none of the waiting CoJs synced (the steady state: the round reads, and signals nothing), and all of them
 * synced (the round signals every one).
 *
 * On throwaway servers of its own, as the other benchmarks: a Temporal dev server (state and visibility in
 * a SQLite file with WAL, as `tisw up` runs it) and FerretDB on a database of its own, both removed
 * afterwards; never the developer's `tisw up` data. No worker and no RabbitMQ: the round is the activity
 * function itself, run in @temporalio/testing's MockActivityEnvironment, in this process.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client, WorkflowStartOptions } from '@temporalio/client';
import type { Logger } from '@temporalio/common';
import { MongoClient, type Document } from 'mongodb';
import type { Config } from '../src/config/config';
import { connectClient } from '../src/adapters/temporal';
import { TssStore, type TraineeProfileDoc } from '../src/adapters/tss-store';
import { createCojSyncActivities, waitingCojsQuery } from '../src/activities/coj-sync.activities';
import { cojRunVisibility, cojSettings } from '../src/client/coj';
import { freePort } from '../src/local/ports';
import { startLocalStack, withDatabase } from '../src/local/stack';
import { cojWorkflowId, type CojSignature, type CojSyncRound, type CojTimings } from '../src/shared/coj';
import { waitFor } from '../src/shared/poll';
import type { cojSubmissionWorkflow } from '../src/workflows/coj-submission.workflow';
import { nowMs, pool, round, type ProgressBars } from './measure';

export interface SyncWatchBenchOptions {
  /** How many CoJs wait, one measurement each. @default [100, 1000, 10000] */
  sizes: number[];
  /** Trainee profiles in TSS's store. @default 100000 */
  profiles: number;
  /** Rounds per size and case; the median round is reported. @default 3 */
  rounds: number;
  /** Runs started at once while making the CoJs wait. @default 100 */
  inFlight: number;
  /** Progress bars, given by the CLI (which draws them only on a terminal). */
  progress: ProgressBars;
}

export type SyncWatchCase = 'none-synced' | 'all-synced';

export interface SyncWatchCaseFigures {
  waiting: number;
  case: SyncWatchCase;
  /** The median round (by its time), whole: its time and parts, as watchCojSync reports them. */
  round: CojSyncRound;
  msPerWaitingCoj: number;
  /** Every measured round's time, in order. */
  roundsMs: number[];
  /** How fast the bench made these CoJs wait (starts per second, `inFlight` at once). */
  startsPerSecond: number;
}

export interface SyncWatchBenchFigures {
  servers: { temporal: string; ferretdbBackend: string };
  profiles: number;
  /** Profiles whose CoJ shows synced (the all-synced cases' trainees); the others are signed, syncedAt null. */
  syncedProfiles: number;
  seed: { ms: number; profilesPerSecond: number };
  cases: SyncWatchCaseFigures[];
  /** What FerretDB's `explain` says of a round's query (1,000 traineeTisIds in `$in`) and of one trainee by equality. */
  explain: { in1000: string; equality: string };
  note: string[];
}

/** The watcher's batch (coj-sync.activities.ts): trainees per query of TSS's store. */
const BATCH = 1000;
const SIGNED_AT = '2025-06-02T09:00:00.000Z';
const SYNCED_AT = new Date('2025-06-02T09:05:00.000Z');

const traineeId = (i: number): string => `T${String(i).padStart(6, '0')}`;
const signatureOf = (i: number): CojSignature => ({ traineeTisId: traineeId(i), programmeMembershipTisId: `PM${String(i).padStart(6, '0')}`, signedAt: SIGNED_AT, version: 'GG10' });

/**
 * A CoJ run that waits for its acknowledgement, started as submitCoj starts one (same workflow, id, memo and
 * search attributes) but with TisStage already 'awaiting-acknowledgement', where a worker's run would set it
 * after its publish, and on a task queue no worker polls: it stays Running, and visibility lists it exactly
 * as it lists a run really waiting. Making 10,000 wait through a worker would take minutes.
 */
export function waitingRunStartOptions(signature: CojSignature, taskQueue: string, timings: CojTimings): WorkflowStartOptions<typeof cojSubmissionWorkflow> {
  return {
    workflowId: cojWorkflowId(signature.programmeMembershipTisId),
    taskQueue,
    args: [{ signature, timings, acknowledgement: 'synced' }],
    ...cojRunVisibility(signature, 'awaiting-acknowledgement'),
  };
}

/** The trainees of each size and case: consecutive, never shared, the all-synced ones at the end of the store. */
export function traineeRanges(sizes: number[], profiles: number): { syncedFrom: number; ranges: Array<Record<SyncWatchCase, { from: number; to: number }>> } {
  const total = sizes.reduce((a, b) => a + b, 0);
  if (2 * total > profiles) throw new Error(`${profiles} profiles are too few for sizes ${sizes.join(', ')}: each size takes its own trainees in each of two cases (${2 * total} in all)`);
  const syncedFrom = profiles - total;
  let offset = 0;
  const ranges = sizes.map((n) => {
    const r = { 'none-synced': { from: offset, to: offset + n }, 'all-synced': { from: syncedFrom + offset, to: syncedFrom + offset + n } };
    offset += n;
    return r;
  });
  return { syncedFrom, ranges };
}

const quiet: Logger = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

export async function runSyncWatchBench(base: Config, options: SyncWatchBenchOptions): Promise<SyncWatchBenchFigures> {
  // A devDependency: loaded only when this benchmark runs, so that `tisw` installed without them still starts.
  const { MockActivityEnvironment } = await import('@temporalio/testing');
  const { syncedFrom, ranges } = traineeRanges(options.sizes, options.profiles);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `tisw-bench-sync-watch-${process.pid}-`));
  const cleanups: Array<() => Promise<unknown>> = [async () => fs.rmSync(tmp, { recursive: true, force: true })];
  try {
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
    cleanups.push(() => stack.stop());
    const mongo = new MongoClient(stack.mongoUri, { appName: 'tisw-bench-sync-watch', serverSelectionTimeoutMS: 5000 });
    const db = mongo.db(`tisw_bench_sync_watch_${process.pid}`);
    cleanups.push(async () => {
      await db.dropDatabase();
      await mongo.close();
    });
    const tssStore = new TssStore(db, base.mongo.tssProfilesCollection);
    // The throwaway dev server: no TLS or API key of the configured Temporal; its payload key, if any, as a worker would use.
    const client = await connectClient({ address: stack.temporalAddress, namespace: 'default', taskQueue: base.temporal.taskQueue, ...(base.temporal.payloadKey && { payloadKey: base.temporal.payloadKey }) });
    cleanups.push(() => client.connection.close());

    const seed = await seedTssStore(tssStore, options.profiles, syncedFrom, options.progress);
    const explain = await explainRoundQuery(tssStore);
    const { timings } = cojSettings(base);

    const cases: SyncWatchCaseFigures[] = [];
    for (const [k, size] of options.sizes.entries()) {
      for (const which of ['none-synced', 'all-synced'] as const) {
        // A task queue per size and case: the round lists the runs of its own only. Earlier sizes' runs stay
        // on the server (it is thrown away at the end), as a production server holds other runs too.
        const taskQueue = `tisw-bench-sync-watch-${size}-${which}`;
        const { from, to } = (ranges[k] as Record<SyncWatchCase, { from: number; to: number }>)[which];
        const startsPerSecond = await makeWait(client, taskQueue, from, to, timings, options, `${size} CoJs waiting (${which})`);
        const { watchCojSync } = createCojSyncActivities({ client, tssStore, taskQueue });
        const env = new MockActivityEnvironment({ taskQueue }, { logger: quiet });
        const roundOnce = (): Promise<CojSyncRound> => env.run<[], CojSyncRound, typeof watchCojSync>(watchCojSync);
        const rounds: CojSyncRound[] = [];
        // The first round on these servers also warms the connections and the visibility store's caches.
        if (cases.length === 0) await roundOnce();
        const bar = options.progress(`rounds, ${size} waiting (${which})`, options.rounds);
        for (let r = 0; r < options.rounds; r++) {
          const result = await roundOnce();
          const expected = which === 'all-synced' ? size : 0;
          if (result.waiting !== size || result.handedOver !== expected) throw new Error(`a round saw ${result.waiting} waiting and handed over ${result.handedOver}; expected ${size} and ${expected}`);
          rounds.push(result);
          bar.tick();
        }
        bar.stop();
        const median = [...rounds].sort((a, b) => a.ms - b.ms)[Math.floor(rounds.length / 2)] as CojSyncRound;
        cases.push({ waiting: size, case: which, round: median, msPerWaitingCoj: round(median.ms / size, 3), roundsMs: rounds.map((r) => r.ms), startsPerSecond });
      }
    }
    return {
      servers: { temporal: 'dev server, state and visibility in SQLite (WAL)', ferretdbBackend: stack.backend },
      profiles: options.profiles,
      syncedProfiles: options.profiles - syncedFrom,
      seed,
      cases,
      explain,
      note: [
        'MongoDB: an $in of up to 1,000 traineeTisIds on the unique index is up to 1,000 index point lookups (IXSCAN), whatever the collection\'s size.',
        ferretDbReading(stack.backend, explain.in1000),
      ],
    };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}

/**
 * TSS's store of `count` profiles, one signed programme membership each; from `syncedFrom` on, each CoJ
 * synced back by TIS (syncedAt set). The bench plays TSS's own store, so it creates TSS's unique index on
 * traineeTisId itself, before the profiles go in, as TSS has it.
 */
async function seedTssStore(store: TssStore, count: number, syncedFrom: number, progress: ProgressBars): Promise<{ ms: number; profilesPerSecond: number }> {
  await store.profiles.createIndex({ traineeTisId: 1 }, { unique: true });
  const bar = progress(`TSS store: ${count} profiles`, count);
  const t0 = nowMs();
  const step = 1000;
  for (let i = 0; i < count; i += step) {
    const to = Math.min(i + step, count);
    const unsynced = Array.from({ length: Math.max(0, Math.min(to, syncedFrom) - i) }, (_, j) => signatureOf(i + j));
    // TssStore's own seeding writes the signatures as TSS saves them (syncedAt null), 500 per insert.
    if (unsynced.length > 0) await store.saveSignaturesOfNewTrainees(unsynced);
    // The synced ones as TSS holds them once TIS synced them back: written so at once, since FerretDB reads the
    // whole collection for every update.
    const synced: TraineeProfileDoc[] = [];
    for (let j = Math.max(i, syncedFrom); j < to; j++) {
      const s = signatureOf(j);
      synced.push({ _id: s.traineeTisId, traineeTisId: s.traineeTisId, version: 0, programmeMemberships: [{ tisId: s.programmeMembershipTisId, conditionsOfJoining: { signedAt: new Date(s.signedAt), version: s.version, syncedAt: SYNCED_AT } }] });
    }
    if (synced.length > 0) await store.profiles.insertMany(synced);
    bar.tick(to - i);
  }
  bar.stop();
  const ms = nowMs() - t0;
  return { ms: round(ms), profilesPerSecond: round((count / ms) * 1000) };
}

/** Makes the CoJs of trainees [from, to) wait on `taskQueue`; returns starts per second once visibility lists them all. */
async function makeWait(client: Client, taskQueue: string, from: number, to: number, timings: CojTimings, options: SyncWatchBenchOptions, label: string): Promise<number> {
  const n = to - from;
  const bar = options.progress(label, n);
  const t0 = nowMs();
  await pool(n, options.inFlight, (i) => client.workflow.start('cojSubmissionWorkflow', waitingRunStartOptions(signatureOf(from + i), taskQueue, timings)), () => bar.tick());
  const perSecond = round((n / (nowMs() - t0)) * 1000);
  bar.stop();
  const query = waitingCojsQuery(taskQueue);
  await waitFor(`visibility to list ${n} runs waiting on ${taskQueue}`, async () => (await client.workflow.count(query)).count === n, 120_000);
  return perSecond;
}

/**
 * What FerretDB does with the round's query: its `explain`, boiled down to whether the filter went to the
 * backend (`filterPushdown`) and the backend's plan (node types, index). MongoDB answers the same query with
 * an IXSCAN on the unique index: up to 1,000 point lookups, independent of the collection's size.
 */
async function explainRoundQuery(store: TssStore): Promise<{ in1000: string; equality: string }> {
  const ids = Array.from({ length: BATCH }, (_, i) => traineeId(i));
  const describe = async (filter: Document): Promise<string> => {
    try {
      return summariseExplain(await store.profiles.find(filter, { projection: { traineeTisId: 1, programmeMemberships: 1 } }).explain());
    } catch (err) {
      return `could not tell: explain failed (${(err as Error).message})`;
    }
  };
  return { in1000: await describe({ traineeTisId: { $in: ids } }), equality: await describe({ traineeTisId: traineeId(0) }) };
}

/** What FerretDB's explain of the round's query means, in a sentence. */
export function ferretDbReading(backend: string, in1000: string): string {
  const fetched = /Seq Scan/.test(in1000) ? 'reads every profile (a sequential scan)' : /Index/.test(in1000) ? 'uses an index' : 'reads in a way its explain does not show';
  const where = /filterPushdown false/.test(in1000) ? `does not push the $in down to ${backend}: it ${fetched} and filters the documents itself` : /filterPushdown true/.test(in1000) ? `turns the $in into a ${backend} query on the documents' JSONB, and ${fetched}` : `${fetched}`;
  const cost = /Seq Scan/.test(in1000) ? ', so each batch of 1,000 trainees costs a read of the whole collection, growing with its size' : '';
  return `FerretDB v1.24 on ${backend} ${where}${cost} (its explain: ${in1000}).`;
}

/** The parts of an explain answer that say how the query ran, from FerretDB's shape (PostgreSQL's plan inside) or MongoDB's. */
export function summariseExplain(explain: Document): string {
  const found: Record<string, Set<string>> = {};
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [key, value] of Object.entries(v as Record<string, unknown>)) {
        if (['Node Type', 'Index Name', 'Relation Name', 'stage', 'indexName'].includes(key) && (typeof value === 'string' || typeof value === 'number')) (found[key] ??= new Set()).add(String(value));
        if (key === 'Filter' && typeof value === 'string') (found.Filter ??= new Set()).add(value.length > 120 ? `${value.slice(0, 117)}...` : value);
        walk(value);
      }
    }
  };
  walk(explain.queryPlanner ?? explain);
  const parts: string[] = [];
  for (const flag of ['filterPushdown', 'sortPushdown', 'limitPushdown']) if (flag in explain) parts.push(`${flag} ${String(explain[flag])}`);
  for (const [key, values] of Object.entries(found)) parts.push(`${key}: ${[...values].join(', ')}`);
  return parts.length > 0 ? parts.join('; ') : `could not tell: ${JSON.stringify(explain).slice(0, 200)}`;
}

export function printSyncWatch(f: SyncWatchBenchFigures, print: (line: string) => void): void {
  const rounds = f.cases[0]?.roundsMs.length ?? 0;
  print(`The sync watcher's round — TSS store of ${f.profiles.toLocaleString('en-GB')} profiles (FerretDB, ${f.servers.ferretdbBackend}), Temporal ${f.servers.temporal}; median of ${rounds} rounds`);
  print(`  TSS store seeded in ${round(f.seed.ms / 1000, 1)} s (${f.seed.profilesPerSecond} profiles/s, unique index on traineeTisId)`);
  const header = ['waiting', 'case', 'round ms', 'list ms', 'read ms', 'signal ms', 'profiles read', 'batches', 'signalled', 'ms per CoJ', 'rounds ms'];
  const rows = f.cases.map((c) => [
    c.waiting.toLocaleString('en-GB'),
    c.case,
    String(c.round.ms),
    String(c.round.listMs),
    String(c.round.readMs),
    String(c.round.signalMs),
    c.round.profilesRead.toLocaleString('en-GB'),
    String(c.round.batches),
    c.round.handedOver.toLocaleString('en-GB'),
    String(c.msPerWaitingCoj),
    c.roundsMs.join(', '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]): void => print(`  ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ')}`);
  line(header);
  rows.forEach(line);
  print(`  runs made to wait at ${f.cases.map((c) => c.startsPerSecond).join(', ')} starts/s (in the order above)`);
  print(`  FerretDB explain, $in of 1,000 traineeTisIds: ${f.explain.in1000}`);
  print(`  FerretDB explain, one traineeTisId:           ${f.explain.equality}`);
  for (const n of f.note) print(`  note: ${n}`);
}
