/**
 * `tisw bench coj`: N signed CoJs (default 2,000) submitted as a burst against a throwaway copy of the
 * local system (bench-system.ts), each delivered to the reference TIS receiver and acknowledged, in each
 * acknowledgement mode asked for (default both, one after the other in one run):
 *   - synced: TCS stores it, the reference TIS sync copies it back onto TSS's profile (lag 0 here), and the
 *     first publish, waiting in the worker, sees it there (or, past its wait, the sync watcher, every second
 *     here, sees it and signals the run);
 *   - reply: TCS replies, and the run writes syncedAt itself.
 * Prints CoJs acknowledged per second, p50/p95/p99 from submission to syncedAt, the worker process's memory
 * across the bursts, how the acknowledgements reached the runs (in the worker, or signalled), in synced
 * mode the watcher's rounds and their share of the workers' processor time, and
 * the floor measured in the same run on the same servers, with the ratios. Targets: the CoJ rate at least
 * 0.8 x the one-activity workflow rate in synced mode, 0.9 x in reply mode.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { Config } from '../src/config/config';
import { connectClient } from '../src/adapters/temporal';
import { openMongo } from '../src/adapters/mongo';
import { TssStore } from '../src/adapters/tss-store';
import { TisStore } from '../src/adapters/tis-store';
import { cojSettings, submitCoj } from '../src/client/coj';
import { COJ_ACKNOWLEDGEMENT_MODES, cojWorkflowId, type CojAcknowledgementMode, type CojSignature, type CojStatus } from '../src/shared/coj';
import { cpuText, floorProcesses, measureFloor, measureFloorBurst, type CpuCost, type FloorBurst, type FloorFigures } from './floor';
import { cpuMsPer, readCpu, SHARED_SERVERS, type ProcessGroup } from './cpu';
import { latency, median, parsePrometheus, pool, round, type Latency, type PrometheusSample, type ProgressBars } from './measure';
import { memoryOf, startBenchSystem } from './bench-system';
import { freePort } from '../src/local/ports';

export interface CojBenchOptions {
  count: number;
  /** Concurrent submit calls while the burst is sent. */
  inFlight: number;
  floorBurst: number;
  /** Bursts of `count`, one after another, with the floor's burst measured before, between and after them. */
  bursts: number;
  /**
   * `tisw worker` processes (a cluster, as in production). The floor always has one worker: with more than
   * one here, the ratios compare a cluster with a single worker. @default 1
   */
  workers: number;
  /** The modes to measure, one after the other. @default both */
  acknowledgements?: CojAcknowledgementMode[];
  /** Progress bars, given by the CLI (which draws them only on a terminal). */
  progress: ProgressBars;
}

/** In synced mode: the sync watcher's rounds during the bursts, from the workers' metrics. */
export interface SyncWatcherFigures {
  intervalMs: number;
  rounds: number;
  /** The rounds' wall time, in all. */
  roundsMs: number;
  /** The workers' processor time while rounds ran in them: an upper bound of the rounds' own. */
  cpuMsUpperBound: number;
  /** cpuMsUpperBound / the workers' processor time over the bursts. */
  shareOfWorkerCpu: number;
}

/** One burst of CoJs, and the floor either side of it. */
export interface CojBurstFigures {
  perSecond: number;
  totalMs: number;
  /** Processor time per CoJ in this burst, by process. */
  cpuMsPerCoj: CpuCost;
  /** The mean of the floor's one-activity rates measured just before and just after this burst. */
  floorPerSecond: number;
  /** perSecond / floorPerSecond. */
  rateRatio: number;
  /** The floor's processor time per workflow (mean of the two either side) / this burst's per CoJ. */
  processorTimeRatio: number;
}

/** The figures of one acknowledgement mode. */
export interface CojModeFigures {
  acknowledgement: CojAcknowledgementMode;
  /** The median of the bursts' rates. */
  cojsAcknowledgedPerSecond: number;
  bursts: CojBurstFigures[];
  /** Of the first burst: from the submit call to the run taking the acknowledgement. */
  submissionToAcknowledged: Latency;
  /** The workers' RSS (their sum, with several) before the bursts and after each; growth per CoJ in the last burst (0 when memory is flat). */
  workerMemoryMiB: { beforeBursts: number; afterBurst: number[]; peak: number; growthKiBPerCojInLastBurst: number };
  /**
   * How the acknowledgements of the run's CoJs (warm-up included) reached their runs: handed to the publish
   * waiting in the worker, or signalled; from the workers' own tisw_replies_total (reply mode) or
   * tisw_coj_syncs_total (synced mode).
   */
  handOvers: { inWorker: number; bySignal: number };
  /** Synced mode only. */
  syncWatcher?: SyncWatcherFigures;
  ratios: {
    /** The median of the bursts' rate ratios: the figure the target (>= 0.9) is about. */
    cojRateToOneActivityBurstRate: number;
    cojP50ToOneActivityP50: number;
    /**
     * The median of the bursts' processor-time ratios: the rate ratio if processor time alone limited both
     * (every process here shares the same cores). The floor's burst, with 50 in flight, does not keep both
     * cores busy, so the measured rate ratio can come out above it.
     */
    processorTimeRatio: number;
  };
}

export interface CojBenchFigures {
  count: number;
  workers: number;
  modes: CojModeFigures[];
  /** The whole floor (one at a time, burst, AMQP round trip), measured before the first burst. */
  floor: FloorFigures;
  /** The floor's one-activity burst before the first CoJ burst and after each: one more than all bursts, the first being floor's. */
  floorBursts: FloorBurst[];
}

/** What each mode's processes are given: TIS's sync with no lag and the watcher every second, so that the rate measures the work, not the waits. */
const MODE_ENV: Record<CojAcknowledgementMode, NodeJS.ProcessEnv> = {
  synced: { COJ_ACKNOWLEDGEMENT: 'synced', TISW_TIS_SYNC_LAG_SECONDS: '0', COJ_SYNC_WATCH_SECONDS: '1' },
  reply: { COJ_ACKNOWLEDGEMENT: 'reply' },
};

/**
 * The machine's speed drifts over minutes (a shared virtual machine: the same code gave 22 and 41 ms of
 * processor time per floor workflow in two runs a quarter of an hour apart), and the server slows as its state grows.
 * So each burst is compared with the floor measured just before and just after it, and the ratios given
 * are the medians over the bursts rather than one burst against floors minutes away.
 */
export async function runCojBench(base: Config, options: CojBenchOptions): Promise<CojBenchFigures> {
  const system = await startBenchSystem(base, 'coj');
  try {
    const { config } = system;
    const client = await connectClient(config.temporal);
    const tss = await openMongo(config.mongo.tss, 'tisw-bench');
    try {
      const store = new TssStore(tss.db, config.mongo.tssProfilesCollection);
      const tis = new TisStore(tss.db); // one database for all stores here
      const temporalPid = system.stack.children[0]?.pid ?? -1;
      const floorOptions = { burst: options.floorBurst, inFlight: 50, sequential: 50, amqpRoundTrips: 1000, persist: true, progress: options.progress, cpu: floorProcesses(temporalPid) };
      const floor = await measureFloor(system.stack.temporalAddress, config.amqp.url, floorOptions);
      const floorBursts: FloorBurst[] = [floor.oneActivityWorkflow.burst];
      const modes: CojModeFigures[] = [];
      for (const mode of options.acknowledgements ?? [...COJ_ACKNOWLEDGEMENT_MODES]) {
        modes.push(await measureMode(mode, { system, client, store, tis, options, floorOptions, floorBursts, temporalPid }));
      }
      return { count: options.count, workers: options.workers, modes, floor, floorBursts };
    } finally {
      await client.connection.close();
      await tss.close();
    }
  } finally {
    await system.stop();
  }
}

interface ModeContext {
  system: Awaited<ReturnType<typeof startBenchSystem>>;
  client: Awaited<ReturnType<typeof connectClient>>;
  store: TssStore;
  tis: TisStore;
  options: CojBenchOptions;
  floorOptions: Parameters<typeof measureFloorBurst>[1];
  /** Shared by the modes: each burst is compared with the floor bursts either side of it. */
  floorBursts: FloorBurst[];
  temporalPid: number;
}

/** The receivers and workers of one mode, its bursts, each followed by a floor burst; then they stop. */
async function measureMode(mode: CojAcknowledgementMode, ctx: ModeContext): Promise<CojModeFigures> {
  const { system, client, store, tis, options, floorOptions, floorBursts, temporalPid } = ctx;
  const env = MODE_ENV[mode];
  const receivers = system.startTisw('receivers', env);
  // Each worker serves its metrics, for the benchmark to read how the acknowledgements reached the runs.
  const metricsPorts = await Promise.all(Array.from({ length: options.workers }, () => freePort()));
  const workers = metricsPorts.map((port) => system.startTisw('worker', { ...env, TISW_METRICS_PORT: String(port) }));
  try {
    const workersRssMiB = (): number => round(workers.reduce((sum, w) => sum + memoryOf(w.pid).rssMiB, 0), 1);
    await system.waitForWorker();
    const settings = { ...cojSettings(system.config), acknowledgement: mode };

    const deliver = async (list: CojSignature[], onEach?: () => void): Promise<Array<{ submittedAt: number; status: CojStatus }>> => {
      const submittedAt = new Map<string, number>();
      await pool(list.length, options.inFlight, async (i) => {
        const s = list[i] as CojSignature;
        submittedAt.set(s.programmeMembershipTisId, Date.now());
        await submitCoj(client, settings, s);
      });
      const results: Array<{ submittedAt: number; status: CojStatus }> = [];
      await pool(list.length, 100, async (i) => {
        const s = list[i] as CojSignature;
        const status = await client.workflow.getHandle<() => Promise<CojStatus>>(cojWorkflowId(s.programmeMembershipTisId)).result();
        results.push({ submittedAt: submittedAt.get(s.programmeMembershipTisId) as number, status });
        onEach?.();
      });
      return results;
    };

    const warmUp = signatures(20);
    await seed(store, tis, warmUp);
    await deliver(warmUp);
    const processes: Record<string, ProcessGroup> = {
      temporal: { pids: [temporalPid] },
      worker: { pids: workers.map((w) => w.pid) },
      receivers: { pids: [receivers.pid] },
      ferretdb: { pids: [system.stack.children[1]?.pid ?? -1] },
      'bench process (client)': { pids: [process.pid] },
      ...SHARED_SERVERS,
    };

    // Bursts of the same size, one after the other, each followed by the floor's burst. The first burst
    // grows the heaps and the workflow cache to their working size; if the worker kept something per
    // finished CoJ, every later burst would grow its memory again by as much.
    const memory = { beforeBursts: workersRssMiB(), afterBurst: [] as number[], peak: 0 };
    const sampler = setInterval(() => (memory.peak = Math.max(memory.peak, workersRssMiB())), 200);
    const watcherBefore = await syncWatcherMetricsOf(metricsPorts);
    let workerCpuMs = 0;
    const bursts: Array<{ results: Awaited<ReturnType<typeof deliver>>; cpu: CpuCost; floorBefore: FloorBurst; floorAfter: FloorBurst }> = [];
    for (let i = 1; i <= options.bursts; i++) {
      const list = signatures(options.count);
      await seed(store, tis, list);
      const bar = options.progress(`CoJs acknowledged, ${mode} (burst ${i} of ${options.bursts})`, list.length);
      const cpuBefore = readCpu(processes);
      const results = await deliver(list, () => bar.tick());
      const cpuAfter = readCpu(processes);
      const cpu = cpuMsPer(cpuBefore, cpuAfter, list.length);
      workerCpuMs += (cpu.byProcess.worker ?? 0) * list.length;
      bar.stop();
      const notSynced = results.filter((r) => r.status.stage !== 'acknowledged' || !r.status.syncedAt);
      if (notSynced.length > 0) throw new Error(`${notSynced.length} CoJs finished without syncedAt: the benchmark is void`);
      memory.afterBurst.push(workersRssMiB());
      // Each burst against stores of one burst's size. The MongoDB stand-in reads a whole collection for
      // every update (FerretDB 1.24 pushes no update filter down to PostgreSQL, and its indexes serve no
      // lookup), so stores growing burst after burst would make each burst dearer than the one before, for
      // a reason MongoDB's indexed lookups do not have. Measured on FerretDB: 2.1 ms per update at 10
      // documents, 3.2 ms at 2,000, 3.3-3.4 ms at 6,000.
      await Promise.all([store.profiles.deleteMany({}), tis.programmeMemberships.deleteMany({})]);
      const floorBefore = floorBursts.at(-1) as FloorBurst;
      const floorAfter = await measureFloorBurst(system.stack.temporalAddress, floorOptions);
      floorBursts.push(floorAfter);
      bursts.push({ results, cpu, floorBefore, floorAfter });
    }
    clearInterval(sampler);
    const watcherAfter = await syncWatcherMetricsOf(metricsPorts);
    memory.peak = Math.max(memory.peak, ...memory.afterBurst);
    const rssBeforeLast = memory.afterBurst.length > 1 ? (memory.afterBurst.at(-2) as number) : memory.beforeBursts;

    const rate = (results: Awaited<ReturnType<typeof deliver>>): { perSecond: number; totalMs: number } => {
      const firstSubmitted = Math.min(...results.map((r) => r.submittedAt));
      const lastSynced = Math.max(...results.map((r) => Date.parse(r.status.acknowledgedAt as string)));
      return { perSecond: round((results.length / (lastSynced - firstSubmitted)) * 1000), totalMs: round(lastSynced - firstSubmitted) };
    };
    const burstFigures = bursts.map((b): CojBurstFigures => {
      const floorPerSecond = round((b.floorBefore.perSecond + b.floorAfter.perSecond) / 2);
      const floorCpu = ((b.floorBefore.cpuMsPerWorkflow?.total ?? NaN) + (b.floorAfter.cpuMsPerWorkflow?.total ?? NaN)) / 2;
      const { perSecond, totalMs } = rate(b.results);
      return { perSecond, totalMs, cpuMsPerCoj: b.cpu, floorPerSecond, rateRatio: round(perSecond / floorPerSecond), processorTimeRatio: round(floorCpu / b.cpu.total) };
    });
    const first = bursts[0] as (typeof bursts)[number];
    const submissionToAcknowledged = latency(first.results.map((r) => Date.parse(r.status.acknowledgedAt as string) - r.submittedAt));
    const watcherCpuMs = round((watcherAfter.cpuSeconds - watcherBefore.cpuSeconds) * 1000);
    return {
      acknowledgement: mode,
      cojsAcknowledgedPerSecond: median(burstFigures.map((b) => b.perSecond)),
      bursts: burstFigures,
      submissionToAcknowledged,
      workerMemoryMiB: { ...memory, growthKiBPerCojInLastBurst: round((((memory.afterBurst.at(-1) as number) - rssBeforeLast) * 1024) / options.count) },
      handOvers: await handOversOf(mode, metricsPorts),
      ...(mode === 'synced' && {
        syncWatcher: {
          intervalMs: Number(MODE_ENV.synced.COJ_SYNC_WATCH_SECONDS) * 1000,
          rounds: watcherAfter.rounds - watcherBefore.rounds,
          roundsMs: round((watcherAfter.roundSeconds - watcherBefore.roundSeconds) * 1000),
          cpuMsUpperBound: watcherCpuMs,
          shareOfWorkerCpu: round(watcherCpuMs / workerCpuMs, 3),
        },
      }),
      ratios: {
        cojRateToOneActivityBurstRate: median(burstFigures.map((b) => b.rateRatio)),
        cojP50ToOneActivityP50: round(submissionToAcknowledged.p50Ms / (floorBursts[0] as FloorBurst).p50Ms),
        processorTimeRatio: median(burstFigures.map((b) => b.processorTimeRatio)),
      },
    };
  } finally {
    await Promise.allSettled([receivers.stop(), ...workers.map((w) => w.stop())]);
  }
}

/** Every worker's metrics samples (each serves its own /metrics), one list. */
async function workersSamples(metricsPorts: number[]): Promise<PrometheusSample[]> {
  const pages = await Promise.all(metricsPorts.map(async (port) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text()));
  return pages.flatMap(parsePrometheus);
}

/** The sync watcher's metrics, summed over the workers (the watcher's rounds run on whichever worker takes them). */
async function syncWatcherMetricsOf(metricsPorts: number[]): Promise<{ rounds: number; roundSeconds: number; cpuSeconds: number }> {
  const totals = { rounds: 0, roundSeconds: 0, cpuSeconds: 0 };
  for (const { name, value } of await workersSamples(metricsPorts)) {
    if (name === 'tisw_coj_sync_watch_round_seconds_count') totals.rounds += value;
    if (name === 'tisw_coj_sync_watch_round_seconds_sum') totals.roundSeconds += value;
    if (name === 'tisw_coj_sync_watch_cpu_seconds_total') totals.cpuSeconds += value;
  }
  return totals;
}

/** Sums the workers' counts of the mode's acknowledgements by how they were handed over (CojModeFigures.handOvers). */
async function handOversOf(mode: CojAcknowledgementMode, metricsPorts: number[]): Promise<{ inWorker: number; bySignal: number }> {
  const totals = { inWorker: 0, bySignal: 0 };
  for (const { name, labels, value } of await workersSamples(metricsPorts)) {
    if (mode === 'reply' && name === 'tisw_replies_total' && labels.job === 'coj') {
      if (labels.result === 'handed-over-in-process') totals.inWorker += value;
      else if (labels.result === 'handed-over') totals.bySignal += value;
    }
    if (mode === 'synced' && name === 'tisw_coj_syncs_total') {
      if (labels.path === 'in-worker') totals.inWorker += value;
      else if (labels.path === 'signal') totals.bySignal += value;
    }
  }
  return totals;
}

function signatures(n: number): CojSignature[] {
  const signedAt = new Date(Date.now() - 60_000).toISOString();
  return Array.from({ length: n }, () => ({ programmeMembershipTisId: randomUUID(), traineeTisId: String(randomInt(1, 2 ** 47)), signedAt, version: 'GG10' as const }));
}

/** What TSS and TIS hold before the burst: one profile per trainee, and the programme memberships. */
async function seed(tss: TssStore, tis: TisStore, list: CojSignature[]): Promise<void> {
  await tss.saveSignaturesOfNewTrainees(list);
  await tis.addNewProgrammeMemberships(list.map((s) => ({ id: s.programmeMembershipTisId, personId: s.traineeTisId })));
}

export function printCoj(f: CojBenchFigures, print: (line: string) => void): void {
  const lat = (l: Latency): string => `p50 ${l.p50Ms} ms, p95 ${l.p95Ms} ms, p99 ${l.p99Ms} ms`;
  const workers = f.workers === 1 ? 'one worker' : `${f.workers} workers (the floor has one; RSS is their sum)`;
  print(`CoJ benchmark — per mode, ${f.modes[0]?.bursts.length ?? 0} burst(s) of ${f.count} CoJs, each submitted at once, delivered and acknowledged, by ${workers}; the floor's one-activity burst before, between and after them`);
  for (const m of f.modes) {
    const target = m.acknowledgement === 'synced' ? 0.8 : 0.9;
    print(`${m.acknowledgement} mode${m.acknowledgement === 'synced' ? ` (TIS's sync lag 0, the watcher every ${(m.syncWatcher?.intervalMs ?? 0) / 1000} s)` : ''}:`);
    const mem = m.workerMemoryMiB;
    m.bursts.forEach((b, i) => {
      print(`  burst ${i + 1}: ${b.perSecond} CoJs/s (${round(b.totalMs / 1000, 1)} s); floor either side ${b.floorPerSecond}/s; rate ratio ${b.rateRatio}; processor time ${b.cpuMsPerCoj.total} ms per CoJ, ratio ${b.processorTimeRatio}; worker RSS after ${mem.afterBurst[i]} MiB`);
    });
    print(`  CoJs acknowledged per second        ${m.cojsAcknowledgedPerSecond} (median of the bursts: ${m.bursts.map((b) => b.perSecond).join(', ')}/s)`);
    print(`  submission -> acknowledged          ${lat(m.submissionToAcknowledged)} (first burst)`);
    print(`  processor time per CoJ              ${cpuText((m.bursts[0] as CojBurstFigures).cpuMsPerCoj)} (first burst)`);
    const handedOver = m.handOvers.inWorker + m.handOvers.bySignal;
    const what = m.acknowledgement === 'reply' ? 'CoJ replies' : 'CoJs synced by TIS';
    print(`  ${what.padEnd(36)}${m.handOvers.inWorker} of ${handedOver} handed to the publish waiting in the worker, ${m.handOvers.bySignal} signalled (warm-up included)`);
    const w = m.syncWatcher;
    if (w) print(`  sync watcher                        ${w.rounds} rounds, ${w.roundsMs} ms in all; worker processor time while they ran ≤ ${w.cpuMsUpperBound} ms, ≤ ${round(w.shareOfWorkerCpu * 100, 1)}% of the workers'`);
    print(`  worker RSS (MiB)                    before ${mem.beforeBursts}, after each burst ${mem.afterBurst.join(', ')}, peak ${mem.peak}; growth in the last burst: ${mem.growthKiBPerCojInLastBurst} KiB per CoJ`);
    print(`  ratio CoJ rate / one-activity rate  ${m.ratios.cojRateToOneActivityBurstRate} (median of the bursts, each to the floor either side: ${m.bursts.map((b) => b.rateRatio).join(', ')}; target >= ${target})`);
    print(`  processor-time ratio                ${m.ratios.processorTimeRatio} (median; floor ms per workflow / CoJ ms per CoJ: the rate ratio if processor time alone limited both)`);
  }
  const b0 = f.floor.oneActivityWorkflow.burst;
  print(`floor, same run:`);
  print(`  one-activity bursts                 ${f.floorBursts.map((b) => b.perSecond).join(', ')} workflows/s (${b0.count} each, ${b0.inFlight} in flight; first: ${lat(b0)})`);
  if (b0.cpuMsPerWorkflow) print(`  processor time per workflow         ${cpuText(b0.cpuMsPerWorkflow)} (first floor burst)`);
  const n = f.floor.noActivityWorkflow.burst;
  print(`  no-activity burst                   ${n.perSecond} workflows/s (${lat(n)})`);
  const a = f.floor.amqpRoundTrip;
  print(`  AMQP round trip                     ${lat(a.sequential)}; ${a.concurrent.perSecond}/s with ${a.concurrent.inFlight} in flight`);
}
