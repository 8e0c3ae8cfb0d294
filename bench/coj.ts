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
import { measureFloor, type FloorFigures } from './floor';
import { latency, nowMs, pool, round, type Latency } from './measure';
import { memoryOf, startBenchSystem } from './bench-system';

export interface CojBenchOptions {
  count: number;
  /** Concurrent submit calls while the burst is sent. */
  inFlight: number;
  floorBurst: number;
  progress: boolean;
}

export interface CojBenchFigures {
  count: number;
  cojsAcknowledgedPerSecond: number;
  submissionToSyncedAt: Latency;
  totalMs: number;
  workerMemoryMiB: { beforeBurst: number; atQuarter: number; atEnd: number; peak: number; growthKiBPerCojAfterQuarter: number };
  /** The floor measured before the burst, and (floor) after it; the rate ratio uses their mean. */
  floorBefore: FloorFigures;
  floor: FloorFigures;
  ratios: { cojRateToOneActivityBurstRate: number; cojP50ToOneActivityP50: number };
}

export async function runCojBench(base: Config, options: CojBenchOptions): Promise<CojBenchFigures> {
  const system = await startBenchSystem(base, 'coj');
  try {
    system.startTisw('receivers');
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
      const burst = signatures(options.count);
      await seed(store, tis, [...warmUp, ...burst]);

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
      // The floor before and after the burst: the server's state grows with the burst, which slows what
      // follows it, so a floor on one side only would flatter or punish the CoJ rate.
      const floorOptions = { burst: options.floorBurst, inFlight: 50, sequential: 50, amqpRoundTrips: 1000, persist: true, progress: options.progress };
      const floorBefore = await measureFloor(system.stack.temporalAddress, config.amqp.url, floorOptions);
      const memory = { beforeBurst: memoryOf(worker.pid).rssMiB, atQuarter: NaN, atEnd: NaN, peak: 0 };
      const sampler = setInterval(() => (memory.peak = Math.max(memory.peak, memoryOf(worker.pid).rssMiB)), 200);
      const bar = progress('CoJs acknowledged', burst.length, options.progress);
      let done = 0;
      const start = nowMs();
      const results = await deliver(burst, () => {
        bar.tick();
        if (++done === Math.round(burst.length / 4)) memory.atQuarter = memoryOf(worker.pid).rssMiB;
      });
      const totalMs = nowMs() - start;
      bar.stop();
      clearInterval(sampler);
      memory.atEnd = memoryOf(worker.pid).rssMiB;
      memory.peak = Math.max(memory.peak, memory.atEnd);

      const notSynced = results.filter((r) => r.status.stage !== 'acknowledged' || !r.status.syncedAt);
      if (notSynced.length > 0) throw new Error(`${notSynced.length} CoJs finished without syncedAt: the benchmark is void`);
      const firstSubmitted = Math.min(...results.map((r) => r.submittedAt));
      const lastSynced = Math.max(...results.map((r) => Date.parse(r.status.syncedAt as string)));
      const cojsAcknowledgedPerSecond = round((burst.length / (lastSynced - firstSubmitted)) * 1000);
      const submissionToSyncedAt = latency(results.map((r) => Date.parse(r.status.syncedAt as string) - r.submittedAt));

      const floor = await measureFloor(system.stack.temporalAddress, config.amqp.url, floorOptions);
      const floorRate = (floorBefore.oneActivityWorkflow.burst.perSecond + floor.oneActivityWorkflow.burst.perSecond) / 2;
      return {
        count: burst.length,
        cojsAcknowledgedPerSecond,
        submissionToSyncedAt,
        totalMs: round(totalMs),
        workerMemoryMiB: {
          ...memory,
          growthKiBPerCojAfterQuarter: round(((memory.atEnd - memory.atQuarter) * 1024) / (burst.length * 0.75)),
        },
        floorBefore,
        floor,
        ratios: {
          cojRateToOneActivityBurstRate: round(cojsAcknowledgedPerSecond / floorRate),
          cojP50ToOneActivityP50: round(submissionToSyncedAt.p50Ms / floor.oneActivityWorkflow.burst.p50Ms),
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
  for (let i = 0; i < list.length; i += 500) {
    const batch = list.slice(i, i + 500);
    await tss.profiles.insertMany(batch.map((s) => ({ _id: s.traineeTisId, traineeTisId: s.traineeTisId, programmeMemberships: [{ tisId: s.programmeMembershipTisId, conditionsOfJoining: { signedAt: new Date(s.signedAt), version: s.version, syncedAt: null } }] })));
    await tis.programmeMemberships.insertMany(batch.map((s) => ({ _id: s.programmeMembershipTisId, personId: s.traineeTisId })));
  }
}

export function printCoj(f: CojBenchFigures, print: (line: string) => void): void {
  const lat = (l: Latency): string => `p50 ${l.p50Ms} ms, p95 ${l.p95Ms} ms, p99 ${l.p99Ms} ms`;
  print(`CoJ benchmark — ${f.count} CoJs submitted as a burst, delivered, acknowledged, syncedAt written`);
  print(`  CoJs acknowledged per second        ${f.cojsAcknowledgedPerSecond} (whole burst ${round(f.totalMs / 1000, 1)} s)`);
  print(`  submission -> syncedAt              ${lat(f.submissionToSyncedAt)}`);
  const m = f.workerMemoryMiB;
  print(`  worker RSS (MiB)                    before ${m.beforeBurst}, at 1/4 ${m.atQuarter}, at end ${m.atEnd}, peak ${m.peak}; growth after 1/4: ${m.growthKiBPerCojAfterQuarter} KiB per CoJ`);
  for (const [when, floor] of [['before', f.floorBefore], ['after', f.floor]] as const) {
    const b = floor.oneActivityWorkflow.burst;
    print(`  floor ${when} the burst: one-activity ${b.perSecond} workflows/s (${b.count}, ${b.inFlight} in flight; ${lat(b)})`);
  }
  const a = f.floor.amqpRoundTrip;
  print(`  floor, same run: AMQP round trip    ${lat(a.sequential)}; ${a.concurrent.perSecond}/s with ${a.concurrent.inFlight} in flight`);
  print(`  ratio CoJ rate / one-activity rate  ${f.ratios.cojRateToOneActivityBurstRate} (to the mean of the two floors; target >= 0.9)`);
}
