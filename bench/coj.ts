/**
 * `tisw bench coj`: N signed CoJs (default 2,000) submitted as a burst against a throwaway copy of the
 * local system (bench-system.ts), each delivered to the reference TIS receiver and acknowledged, with
 * syncedAt written to TSS's store. Prints CoJs acknowledged per second, p50/p95/p99 from submission to
 * syncedAt, the worker process's memory across the burst, and the floor measured in the same run on the
 * same servers, with the ratios. Target: the CoJ rate at least 0.9 x the one-activity workflow rate.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { Config } from '../src/config/config';
import { connectClient } from '../src/adapters/temporal';
import { openMongo } from '../src/adapters/mongo';
import { TssStore } from '../src/adapters/tss-store';
import { TisStore } from '../src/adapters/tis-store';
import { cojSettings, submitCoj } from '../src/client/coj';
import { progress } from '../src/client/progress';
import { cojWorkflowId, type CojSignature, type CojStatus } from '../src/shared/contract';
import { cpuText, floorProcesses, measureFloor, type CpuCost, type FloorFigures } from './floor';
import { cpuMsPer, readCpu, SHARED_SERVERS, type ProcessGroup } from './cpu';
import { latency, pool, round, type Latency } from './measure';
import { memoryOf, startBenchSystem } from './bench-system';

export interface CojBenchOptions {
  count: number;
  /** Concurrent submit calls while the burst is sent. */
  inFlight: number;
  floorBurst: number;
  /** Bursts of `count`, one after another: the first gives the rate; all show the worker's memory after them. */
  bursts: number;
  progress: boolean;
}

export interface CojBenchFigures {
  count: number;
  /** Of the first burst, as are the latencies. */
  cojsAcknowledgedPerSecond: number;
  /** CoJs acknowledged per second in each burst. */
  perSecondByBurst: number[];
  submissionToSyncedAt: Latency;
  totalMs: number;
  /** Processor time per CoJ in the first burst, by process. */
  cpuMsPerCoj: CpuCost;
  /** RSS before the bursts and after each; growth per CoJ in the last burst (0 when memory is flat). */
  workerMemoryMiB: { beforeBursts: number; afterBurst: number[]; peak: number; growthKiBPerCojInLastBurst: number };
  /** The floor measured before the burst, and (floor) after it; the rate ratio uses their mean. */
  floorBefore: FloorFigures;
  floor: FloorFigures;
  ratios: {
    cojRateToOneActivityBurstRate: number;
    cojP50ToOneActivityP50: number;
    /**
     * Floor processor time per workflow / CoJ processor time per CoJ: the rate ratio if both were limited by
     * processor time alone (every process here shares the same cores). The floor's burst, with 50 in flight,
     * does not keep both cores busy, so the measured ratio can come out above it.
     */
    processorTimeRatio: number;
  };
}

export async function runCojBench(base: Config, options: CojBenchOptions): Promise<CojBenchFigures> {
  const system = await startBenchSystem(base, 'coj');
  try {
    const receivers = system.startTisw('receivers');
    const worker = system.startTisw('worker');
    await system.waitForWorker();
    const { config } = system;
    const settings = cojSettings(config);
    const client = await connectClient(config.temporal);
    const tss = await openMongo(config.mongo.tss, 'tisw-bench');
    try {
      const store = new TssStore(tss.db);
      const tis = new TisStore(tss.db); // one database for all stores here
      const warmUp = signatures(20);
      await seed(store, tis, warmUp);

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

      await deliver(warmUp);
      const temporalPid = system.stack.children[0]?.pid ?? -1;
      const processes: Record<string, ProcessGroup> = {
        temporal: { pids: [temporalPid] },
        worker: { pids: [worker.pid] },
        receivers: { pids: [receivers.pid] },
        ferretdb: { pids: [system.stack.children[1]?.pid ?? -1] },
        'bench process (client)': { pids: [process.pid] },
        ...SHARED_SERVERS,
      };
      // The floor before and after the bursts: the server's state grows with the burst, which slows what
      // follows it, so a floor on one side only would flatter or punish the CoJ rate.
      const floorOptions = { burst: options.floorBurst, inFlight: 50, sequential: 50, amqpRoundTrips: 1000, persist: true, progress: options.progress, cpu: floorProcesses(temporalPid) };
      const floorBefore = await measureFloor(system.stack.temporalAddress, config.amqp.url, floorOptions);

      // Bursts of the same size, one after the other: the first gives the rate and the latencies; the later
      // ones show whether the worker keeps anything per finished CoJ. The first burst grows the heaps and
      // the workflow cache to their working size; if the worker kept something per CoJ, every later burst
      // would grow its memory again by as much.
      const memory = { beforeBursts: memoryOf(worker.pid).rssMiB, afterBurst: [] as number[], peak: 0 };
      const sampler = setInterval(() => (memory.peak = Math.max(memory.peak, memoryOf(worker.pid).rssMiB)), 200);
      const burst = async (label: string): Promise<{ results: Awaited<ReturnType<typeof deliver>>; cpu: CpuCost }> => {
        const list = signatures(options.count);
        await seed(store, tis, list);
        const bar = progress(label, list.length, options.progress);
        const cpuBefore = readCpu(processes);
        const results = await deliver(list, () => bar.tick());
        const cpu = cpuMsPer(cpuBefore, readCpu(processes), list.length);
        bar.stop();
        const notSynced = results.filter((r) => r.status.stage !== 'acknowledged' || !r.status.syncedAt);
        if (notSynced.length > 0) throw new Error(`${notSynced.length} CoJs finished without syncedAt: the benchmark is void`);
        return { results, cpu };
      };
      const bursts: Array<Awaited<ReturnType<typeof burst>>> = [];
      for (let i = 1; i <= options.bursts; i++) {
        bursts.push(await burst(i === 1 ? 'CoJs acknowledged (first burst)' : `CoJs acknowledged (burst ${i} of ${options.bursts}, for memory)`));
        memory.afterBurst.push(memoryOf(worker.pid).rssMiB);
      }
      clearInterval(sampler);
      memory.peak = Math.max(memory.peak, ...memory.afterBurst);
      const first = bursts[0] as (typeof bursts)[number];
      const rssBeforeLast = memory.afterBurst.length > 1 ? (memory.afterBurst.at(-2) as number) : memory.beforeBursts;

      const floor = await measureFloor(system.stack.temporalAddress, config.amqp.url, floorOptions);
      const floorRate = (floorBefore.oneActivityWorkflow.burst.perSecond + floor.oneActivityWorkflow.burst.perSecond) / 2;
      const rate = (results: Awaited<ReturnType<typeof deliver>>): { perSecond: number; totalMs: number } => {
        const firstSubmitted = Math.min(...results.map((r) => r.submittedAt));
        const lastSynced = Math.max(...results.map((r) => Date.parse(r.status.syncedAt as string)));
        return { perSecond: round((results.length / (lastSynced - firstSubmitted)) * 1000), totalMs: lastSynced - firstSubmitted };
      };
      const { perSecond: cojsAcknowledgedPerSecond, totalMs } = rate(first.results);
      const submissionToSyncedAt = latency(first.results.map((r) => Date.parse(r.status.syncedAt as string) - r.submittedAt));
      const floorCpu = floor.oneActivityWorkflow.burst.cpuMsPerWorkflow as CpuCost;
      return {
        count: options.count,
        cojsAcknowledgedPerSecond,
        perSecondByBurst: bursts.map((b) => rate(b.results).perSecond),
        submissionToSyncedAt,
        totalMs: round(totalMs),
        cpuMsPerCoj: first.cpu,
        workerMemoryMiB: { ...memory, growthKiBPerCojInLastBurst: round((((memory.afterBurst.at(-1) as number) - rssBeforeLast) * 1024) / options.count) },
        floorBefore,
        floor,
        ratios: {
          cojRateToOneActivityBurstRate: round(cojsAcknowledgedPerSecond / floorRate),
          cojP50ToOneActivityP50: round(submissionToSyncedAt.p50Ms / floor.oneActivityWorkflow.burst.p50Ms),
          processorTimeRatio: round(floorCpu.total / first.cpu.total),
        },
      };
    } finally {
      await client.connection.close();
      await tss.close();
    }
  } finally {
    await system.stop();
  }
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
  print(`CoJ benchmark — ${f.count} CoJs submitted as a burst, delivered, acknowledged, syncedAt written (${f.perSecondByBurst.length} burst(s), one after another: the later ones for memory)`);
  print(`  CoJs acknowledged per second        ${f.cojsAcknowledgedPerSecond} (whole burst ${round(f.totalMs / 1000, 1)} s; each burst: ${f.perSecondByBurst.join(', ')}/s)`);
  print(`  submission -> syncedAt              ${lat(f.submissionToSyncedAt)}`);
  print(`  processor time per CoJ              ${cpuText(f.cpuMsPerCoj)}`);
  const m = f.workerMemoryMiB;
  print(`  worker RSS (MiB)                    before ${m.beforeBursts}, after each burst ${m.afterBurst.join(', ')}, peak ${m.peak}; growth in the last burst: ${m.growthKiBPerCojInLastBurst} KiB per CoJ`);
  for (const [when, floor] of [['before', f.floorBefore], ['after', f.floor]] as const) {
    const b = floor.oneActivityWorkflow.burst;
    print(`  floor ${when} the bursts: one-activity ${b.perSecond} workflows/s (${b.count}, ${b.inFlight} in flight; ${lat(b)})`);
  }
  const floorCpu = f.floor.oneActivityWorkflow.burst.cpuMsPerWorkflow;
  if (floorCpu) print(`  floor processor time per workflow   ${cpuText(floorCpu)}`);
  const a = f.floor.amqpRoundTrip;
  print(`  floor, same run: AMQP round trip    ${lat(a.sequential)}; ${a.concurrent.perSecond}/s with ${a.concurrent.inFlight} in flight`);
  print(`  ratio CoJ rate / one-activity rate  ${f.ratios.cojRateToOneActivityBurstRate} (to the mean of the two floors; target >= 0.9)`);
  print(`  processor-time ratio                ${f.ratios.processorTimeRatio} (floor ms per workflow / CoJ ms per CoJ: the rate ratio if processor time alone limited both)`);
}
