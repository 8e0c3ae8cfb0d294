/**
 * `tisw drill esr-2021`: the ESR incident of July 2021 on demand, the old way beside tis-workflows, on
 * throwaway resources of the local stack (src/drills/throwaway.ts), removed at the end whatever happens.
 *
 * One day (run date 27 Jul 2021, whose 13 files were numbered 00003754 to 00003766; the counter starts at
 * 3753), the same GeneratedAppRecords due for each of the 13 deaneries seeded on both sides:
 *   - the old way: the 13 commands sent all at once, as the cron job did, to the 2021 exporter reconstructed in
 *     esr-2021-exporter.ts (13 generations in flight, read-modify-write of the shared counter, no retries);
 *   - tis-workflows: the same day requested through the ESR lane (esrRequestWorkflow → esrLaneWorkflow →
 *     esrRunWorkflow) on a worker of the drill's own, against the reference exporter.
 * Each side's report is read from its own store afterwards (appFiles made, records still due, the counter),
 * not from what the side said of itself: the duplicated and missing numbers are those of the files written.
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../config/config';
import type { Logger } from '../config/logger';
import { connectAmqp } from '../adapters/amqp';
import { declareTopology } from '../adapters/amqp-topology';
import { EsrStore, dueWindow, type GeneratedAppRecord } from '../adapters/esr-store';
import { connectClient } from '../adapters/temporal';
import { esrSettings, requestEsrRun } from '../client/esr';
import { startEsrExporter } from '../receivers/esr-exporter';
import { amqpProblem } from '../local/rabbitmq';
import { QUEUES } from '../shared/amqp';
import { APP_FILE_SEQUENCE_COUNTER, appFileCommandId, DEANERIES, esrRunWorkflowId, type EsrAcknowledgementMode, type EsrRunStatus } from '../shared/esr';
import { quietRuntime, startWorker } from '../worker/worker';
import { startOldEsrExporter, type OldGeneration } from './esr-2021-exporter';
import { bounded, runOnThrowaway, stepUnlessAborted, type DrillEnd } from './drill';
import { sweepAbandonedDrills, type Throwaway } from './throwaway';

/** 27 Jul 2021: that day's run took 00003754 to 00003766, one per deanery (domain.md). */
export const DRILL_RUN_DATE = '2021-07-27';
export const DRILL_COUNTER_BEFORE = 3753;
/** Due records per deanery, in TIS's order: a day of a few new starters each, London the most. */
const DUE_PER_DEANERY = [4, 6, 3, 5, 2, 5, 6, 5, 4, 3, 9, 4, 5] as const;

export interface DrillFile {
  deanery: string;
  fileName: string;
  sequence: number;
  recordCount: number;
}

export interface EsrDrillSide {
  /** How this side sends the day's commands and takes the file numbers. */
  how: string;
  commands: number;
  /** Generations that failed (the old way: WriteConflict, for good; tis-workflows: any the exporter failed and retried). */
  generationFailures: number;
  /** The old way: each failed generation; tis-workflows: each deanery that was failing (alerted) before its file came. */
  failures: Array<{ deanery: string; reason: string }>;
  filesMade: number;
  /** The files made, in the order they were made, as the side's store records them. */
  files: DrillFile[];
  /** Numbers of more than one file. */
  duplicatedNumbers: number[];
  /** Of the day's numbers (counter before + 1 ... + 13), those no file has. */
  missingNumbers: number[];
  /** Thirteen files, numbered counter before + 1, + 2, ... in the order made. */
  consecutive: boolean;
  recordsDue: number;
  /** Due records still TO_EXPORT after the side finished, and the deaneries they belong to. */
  recordsLeftToExport: number;
  deaneriesLeft: string[];
  counterBefore: number;
  counterAfter: number;
  /** From the first command sent to the last generation's end (old way) or the run's outcome (tis-workflows). */
  tookMs: number;
}

export interface EsrDrillReport extends DrillEnd {
  drill: 'esr-2021';
  runDate: string;
  deaneries: string[];
  oldWay: EsrDrillSide & {
    /** Whether the generations collided in this run (they race for real: it can happen that they do not). */
    raced: boolean;
    race: string;
  };
  tisWorkflows: EsrDrillSide & {
    acknowledgement: EsrAcknowledgementMode;
    /** Commands published in all; 13 means none had to be sent again. */
    publishes: number;
    workflowId: string;
  };
  swept: string[];
}

export interface EsrDrillOptions {
  log: Logger;
  /** Abort it (Ctrl-C): the drill stops at its next step and removes what it made. */
  signal?: AbortSignal;
  /** Progress, one tick per generation (old way) and per deanery done (tis-workflows). */
  progress?: (label: string, total: number) => { tick(n?: number): void; stop(): void };
  /** Called before anything is removed, with each side's store and files directory: the test's look at them. */
  inspect?: (sides: { oldWay: DrillSideStore; tisWorkflows: DrillSideStore }) => Promise<void>;
  /** How long each side may take. @default 90 s */
  sideTimeoutMs?: number;
}

export interface DrillSideStore {
  store: EsrStore;
  filesDir: string;
}

export async function runEsrDrill(config: Config, options: EsrDrillOptions): Promise<EsrDrillReport> {
  return runOnThrowaway('esr-2021', config, options.log, (throwaway) => drill(config, options, throwaway));
}

async function drill(config: Config, options: EsrDrillOptions, throwaway: Throwaway): Promise<Omit<EsrDrillReport, keyof DrillEnd>> {
  const { log, signal } = options;
  const step = (): void => stepUnlessAborted(signal);
  const client = await connectClient(config.temporal, 5000).catch((err: unknown) => {
    throw new Error(`no Temporal server answers at ${config.temporal.address} (TEMPORAL_ADDRESS): start the local stack with \`tisw up\` (${(err as Error).message})`);
  });
  throwaway.atTheEnd('the Temporal client', () => client.connection.close());
  const brokerProblem = await amqpProblem(config.amqp.url);
  if (brokerProblem) throw new Error(`RabbitMQ does not answer at ${new URL(config.amqp.url).host} (AMQP_URL): ${brokerProblem}`);
  const swept = await sweepAbandonedDrills('esr-2021', { client, mongo: config.mongo.esr });
  step();

  // What both sides run on: one vhost (the sides take turns on the command queue), a database and a files directory each.
  const amqpUrl = await throwaway.vhost(config.amqp.url);
  const filesDir = { oldWay: throwaway.dir(), tisWorkflows: throwaway.dir() };
  const targets = { oldWay: throwaway.database(config.mongo.esr, 'old'), tisWorkflows: throwaway.database(config.mongo.esr, 'new') };
  const open = async (side: keyof typeof targets): Promise<EsrStore> => {
    // The old store as 2021's: no unique index on the sequence. The new one with the reference exporter's indexes.
    const store = await EsrStore.open(targets[side], 'tisw-drill', { createIndexes: side === 'tisWorkflows' }).catch((err: unknown) => {
      throw new Error(`the local MongoDB (FerretDB) does not answer at ${targets[side].uri.replace(/\/\/[^@/]*@/, '//')}: start the local stack with \`tisw up\` (${(err as Error).message})`);
    });
    throwaway.onCleanup(`the ${side} store's connection`, () => store.close());
    return store;
  };
  const stores = { oldWay: await open('oldWay'), tisWorkflows: await open('tisWorkflows') };
  const due = seedRecords();
  for (const store of Object.values(stores)) {
    await store.records.insertMany(due.map((r) => ({ ...r })));
    await store.counters.insertOne({ _id: APP_FILE_SEQUENCE_COUNTER, value: DRILL_COUNTER_BEFORE });
  }
  step();

  const sideTimeoutMs = options.sideTimeoutMs ?? 90_000;
  const oldWay = await runOldWay({ amqpUrl, store: stores.oldWay, filesDir: filesDir.oldWay, log, throwaway, sideTimeoutMs, ...(signal && { signal }), ...(options.progress && { progress: options.progress }) });
  step();
  const tisWorkflows = await runTisWorkflows(config, { client, amqpUrl, store: stores.tisWorkflows, target: targets.tisWorkflows, filesDir: filesDir.tisWorkflows, log, throwaway, sideTimeoutMs, ...(signal && { signal }), ...(options.progress && { progress: options.progress }) });
  step();

  const oldSide = await sideFromStore(stores.oldWay, { recordsDue: due.length, generationFailures: oldWay.failures.length, failures: oldWay.failures, tookMs: oldWay.tookMs });
  const newSide = await sideFromStore(stores.tisWorkflows, { recordsDue: due.length, generationFailures: tisWorkflows.generationFailures, failures: tisWorkflows.failures, tookMs: tisWorkflows.tookMs });
  await options.inspect?.({ oldWay: { store: stores.oldWay, filesDir: filesDir.oldWay }, tisWorkflows: { store: stores.tisWorkflows, filesDir: filesDir.tisWorkflows } });
  const raced = oldSide.generationFailures > 0 || oldSide.duplicatedNumbers.length > 0;
  return {
    drill: 'esr-2021',
    runDate: DRILL_RUN_DATE,
    deaneries: [...DEANERIES],
    oldWay: {
      how: 'the 13 commands at once (as the 13:00 cron sent them) to the 2021 exporter reconstructed: 13 generations in flight, the next number by read-modify-write of the shared counter, no retries',
      ...oldSide,
      raced,
      race:
        'nothing simulated: each generation reads the counter, then writes value + 1 in a second round trip to the store, as in 2021. A write that finds the counter changed since its read is the WriteConflict (MongoDB aborted such a transaction); two that both find it unchanged (FerretDB checks by reading first) make two files under one number' +
        (raced ? '.' : '. This run the 13 generations did not collide: the race is real, so run it again'),
    },
    tisWorkflows: {
      how: 'the same day through the ESR lane: one deanery at a time, each command acknowledged and retried until its file is made, against the reference exporter',
      ...newSide,
      acknowledgement: tisWorkflows.acknowledgement,
      publishes: tisWorkflows.status.deaneries.reduce((n, d) => n + d.attempts, 0),
      workflowId: tisWorkflows.workflowId,
    },
    swept,
  };
}

/** Records due on the run date for each deanery, placements starting on 4 Aug 2021 and later in the window. */
function seedRecords(): GeneratedAppRecord[] {
  const { from } = dueWindow(DRILL_RUN_DATE);
  const plusDays = (days: number): string => new Date(Date.parse(`${from}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
  return DEANERIES.flatMap((deanery, d) =>
    Array.from({ length: DUE_PER_DEANERY[d] ?? 3 }, (_, i): GeneratedAppRecord => ({
      _id: `drill-2021-${deanery}-${i + 1}`,
      deanery,
      placementId: `${3_100_000 + d * 100 + i}`,
      positionNumber: `${deanery}/RTH01/${String(i + 1).padStart(3, '0')}`,
      applicant: { forenames: FORENAMES[(d + i) % FORENAMES.length] ?? 'Ada', surname: SURNAMES[(d * 3 + i) % SURNAMES.length] ?? 'Lovelace', gmcNumber: String(7_000_000 + d * 100 + i) },
      placementStartDate: plusDays(i % 2 === 0 ? 6 : 7 * (i + 1)),
      status: 'TO_EXPORT',
    })),
  );
}

const FORENAMES = ['Ada', 'Alan', 'Grace', 'Mary', 'Edward', 'Rosalind', 'Florence'];
const SURNAMES = ['Lovelace', 'Turing', 'Hopper', 'Seacole', 'Jenner', 'Franklin', 'Nightingale', 'Snow', 'Fleming'];

interface SideRun {
  amqpUrl: string;
  store: EsrStore;
  filesDir: string;
  log: Logger;
  throwaway: Throwaway;
  sideTimeoutMs: number;
  signal?: AbortSignal;
  progress?: EsrDrillOptions['progress'];
}

async function runOldWay(run: SideRun): Promise<{ failures: Array<{ deanery: string; reason: string }>; tookMs: number }> {
  const outcomes: OldGeneration[] = [];
  let lastAt = 0;
  let allDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  const bar = run.progress?.('the old way: generations', DEANERIES.length);
  const exporter = startOldEsrExporter({
    amqpUrl: run.amqpUrl,
    store: run.store,
    filesDir: run.filesDir,
    log: run.log,
    onGeneration: (outcome) => {
      outcomes.push(outcome);
      lastAt = Date.now();
      bar?.tick();
      if (outcomes.length >= DEANERIES.length) allDone();
    },
  });
  run.throwaway.onCleanup('the 2021 exporter', () => exporter.stop());
  let started = 0;
  try {
    await bounded(exporter.ready, 'the 2021 exporter connecting', 30_000, run.signal);
    const connection = await connectAmqp({ url: run.amqpUrl, connectionName: 'tisw-drill-esr-2021-cron' });
    try {
      const channel = await connection.createConfirmChannel();
      await declareTopology(channel);
      // All at once, as the 13:00 cron job did: every publish is out before any confirm is awaited.
      started = Date.now();
      for (const deanery of DEANERIES) {
        const commandId = appFileCommandId(DRILL_RUN_DATE, deanery, 1);
        channel.publish('', QUEUES.esrAppFileCommand, Buffer.from(JSON.stringify({ commandId, deanery, runDate: DRILL_RUN_DATE })), { persistent: true, contentType: 'application/json', messageId: commandId });
      }
      await channel.waitForConfirms();
    } finally {
      await connection.close().catch(() => undefined);
    }
    await bounded(done, 'the old way', run.sideTimeoutMs, run.signal);
  } finally {
    bar?.stop();
    // Its turn is over: the command queue is tis-workflows' next.
    await exporter.stop();
  }
  return { failures: outcomes.flatMap((o) => (o.failure === null ? [] : [{ deanery: o.deanery, reason: o.failure }])), tookMs: lastAt - started };
}

async function runTisWorkflows(
  config: Config,
  run: SideRun & { client: Client; target: Config['mongo']['esr'] },
): Promise<{ status: EsrRunStatus; failures: Array<{ deanery: string; reason: string }>; generationFailures: number; tookMs: number; acknowledgement: EsrAcknowledgementMode; workflowId: string }> {
  const namespace = await run.throwaway.namespace(run.client);
  const taskQueue = 'tisw-drill-esr-2021';
  // The drill's own system: its namespace, queue, vhost and store; no alert leaves it (no webhook), no metrics port.
  const own: Config = {
    ...config,
    temporal: { ...config.temporal, namespace, taskQueue },
    amqp: { ...config.amqp, url: run.amqpUrl },
    mongo: { ...config.mongo, tss: run.target, tis: run.target, esr: run.target },
    esr: { ...config.esr, filesDir: run.filesDir },
    alerts: {},
    metricsPort: 0,
  };
  const exporter = startEsrExporter({ amqpUrl: run.amqpUrl, store: run.store, filesDir: run.filesDir, log: run.log, connectionName: 'tisw-drill-esr-2021-exporter' });
  run.throwaway.onCleanup('the reference exporter', () => exporter.stop());
  quietRuntime(own, 'error', run.log);
  const worker = await startWorker(own, run.log, { ensureClusterSetup: false });
  const running = worker.run();
  run.throwaway.onCleanup('the worker', async () => {
    worker.shutdown(); // nothing more where Ctrl-C has already begun it
    await running;
  });
  await bounded(Promise.all([exporter.ready, worker.ready]), 'the worker and the reference exporter starting', 30_000, run.signal);
  const nsClient = await connectClient(own.temporal);
  run.throwaway.onCleanup('the namespace client', () => nsClient.connection.close());

  const bar = run.progress?.('tis-workflows: deaneries done', DEANERIES.length);
  let shown = 0;
  let workflowId = '';
  const started = Date.now();
  let status: EsrRunStatus;
  try {
    status = await bounded(
      requestEsrRun(nsClient, {
        ...esrSettings(own),
        runDate: DRILL_RUN_DATE,
        deaneries: [...DEANERIES],
        pollMs: 200,
        onStatus: (s) => {
          workflowId = esrRunWorkflowId(s);
          const now = s.deaneries.filter((d) => d.stage === 'done').length;
          if (now > shown) bar?.tick(now - shown);
          shown = now;
        },
      }),
      'the ESR run through the lane',
      run.sideTimeoutMs,
      run.signal,
    );
  } finally {
    bar?.stop();
  }
  const tookMs = Date.now() - started;
  const failures = status.deaneries.flatMap((d) => (d.alerts > 0 ? [{ deanery: d.deanery, reason: `failing ${d.alerts} time(s) before its file was made: ${d.lastFailure ?? ''}` }] : []));
  return { status, failures, generationFailures: exporter.stats.transientFailures, tookMs, acknowledgement: esrSettings(own).acknowledgement, workflowId };
}

/** A side's figures, read from its store: the files it holds, the records still due, the counter. */
export async function sideFromStore(
  store: EsrStore,
  { recordsDue, generationFailures, failures, tookMs }: Pick<EsrDrillSide, 'recordsDue' | 'generationFailures' | 'failures' | 'tookMs'>,
): Promise<Omit<EsrDrillSide, 'how'>> {
  const made = (await store.appFilesOf(DRILL_RUN_DATE)).filter((f) => f.status === 'made').sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime() || a.sequence - b.sequence);
  const files = made.map((f) => ({ deanery: f.deanery, fileName: f.fileName, sequence: f.sequence, recordCount: f.recordCount ?? 0 }));
  const numbers = files.map((f) => f.sequence);
  const expected = DEANERIES.map((_, i) => DRILL_COUNTER_BEFORE + 1 + i);
  const left = await Promise.all(DEANERIES.map(async (deanery) => ({ deanery, count: await store.remainingDue(deanery, DRILL_RUN_DATE) })));
  return {
    commands: DEANERIES.length,
    generationFailures,
    failures,
    filesMade: files.length,
    files,
    duplicatedNumbers: [...new Set(numbers.filter((n, i) => numbers.indexOf(n) !== i))].sort((a, b) => a - b),
    missingNumbers: expected.filter((n) => !numbers.includes(n)),
    consecutive: numbers.length === expected.length && numbers.every((n, i) => n === expected[i]),
    recordsDue,
    recordsLeftToExport: left.reduce((n, l) => n + l.count, 0),
    deaneriesLeft: left.filter((l) => l.count > 0).map((l) => l.deanery),
    counterBefore: DRILL_COUNTER_BEFORE,
    counterAfter: await store.counterValue(),
    tookMs,
  };
}
