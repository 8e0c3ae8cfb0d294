/**
 * The floor (`tisw bench floor`): the least a workflow and an AMQP round trip cost on these servers,
 * measured in one run:
 *   (a) a workflow with one activity that does nothing, one at a time and as a burst;
 *   (b) a workflow with no activity, one at a time and as a burst: the true floor of one workflow per CoJ;
 *   (c) the bare AMQP publish (persistent, confirmed) -> consume -> reply round trip, one at a time
 *       and 100 in flight.
 * The CoJ and ESR benchmarks call measureFloor() in their own runs and report ratios to it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { Worker, NativeConnection } from '@temporalio/worker';
import type { ConsumeMessage } from 'amqplib';
import type { Config } from '../src/config/config';
import { connectAmqp } from '../src/adapters/amqp';
import { createFloorActivities } from '../src/activities/floor.activities';
import { ensureServersBuilt } from '../src/local/servers';
import { startTemporalDevServer } from '../src/local/temporal-dev-server';
import { freePort } from '../src/local/ports';
import { workflowSource } from '../src/worker/workflow-bundle';
import { nowMs, onlyLatency, pool, type Latency, type Throughput, type ProgressBars } from './measure';
import { cpuMsPer, readCpu, SHARED_SERVERS, type ProcessGroup } from './cpu';

export type CpuCost = ReturnType<typeof cpuMsPer>;

/** The floor's own processes: the Temporal server, and this one (the floor's worker and client). */
export function floorProcesses(temporalPid: number): Record<string, ProcessGroup> {
  return { temporal: { pids: [temporalPid] }, 'bench process (floor worker and client)': { pids: [process.pid] }, ...SHARED_SERVERS };
}

export interface FloorOptions {
  burst: number;
  inFlight: number;
  sequential: number;
  amqpRoundTrips: number;
  /** Temporal state in a SQLite file with WAL, as `tisw up` runs it; false: in memory. */
  persist: boolean;
  /** Progress bars, given by the CLI (which draws them only on a terminal). */
  progress: ProgressBars;
  /** The processes whose processor time the burst is charged with (the floor's worker and client run in this process). */
  cpu?: Record<string, ProcessGroup>;
}

export interface FloorFigures {
  servers: { temporal: string; temporalState: 'sqlite-wal' | 'memory'; amqp: string };
  oneActivityWorkflow: { sequential: Latency; burst: FloorBurst };
  noActivityWorkflow: { sequential: Latency; burst: FloorBurst };
  amqpRoundTrip: { sequential: Latency; concurrent: Throughput };
}

const BENCH_TASK_QUEUE = 'tisw-bench-floor';
const WARM_UP = 20;

/** Starts its own Temporal dev server, measures, stops it. RabbitMQ is the configured one. */
export async function runFloorBench(config: Config, options: FloorOptions): Promise<FloorFigures> {
  const bins = await ensureServersBuilt();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tisw-bench-floor-'));
  const server = await startTemporalDevServer({
    bin: bins.temporal,
    port: await freePort(),
    echo: false,
    ...(options.persist && { dbFile: path.join(tmp, 'temporal.db') }),
  });
  try {
    return await measureFloor(server.address, config.amqp.url, { ...options, cpu: floorProcesses(server.child.pid) });
  } finally {
    await server.child.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export async function measureFloor(temporalAddress: string, amqpUrl: string, options: FloorOptions): Promise<FloorFigures> {
  const workflows = await measureWorkflows(temporalAddress, options);
  const amqpRoundTrip = await measureAmqpRoundTrip(amqpUrl, options);
  return {
    servers: { temporal: temporalAddress, temporalState: options.persist ? 'sqlite-wal' : 'memory', amqp: new URL(amqpUrl).host },
    ...workflows,
    amqpRoundTrip,
  };
}

type FloorWorkflow = 'floorOneActivityWorkflow' | 'floorNoActivityWorkflow';

/** A burst of floor workflows, and the processor time it cost (when `options.cpu` names the processes). */
export type FloorBurst = Throughput & { cpuMsPerWorkflow?: CpuCost };

/**
 * Runs `measure` with a floor worker polling its own task queue in this process (the same workflow bundle
 * as `tisw worker`, default Worker options) and `run(workflow)`, which starts one and waits for its result.
 */
async function withFloorWorker<T>(address: string, measure: (run: (workflow: FloorWorkflow) => (i: number) => Promise<unknown>) => Promise<T>): Promise<T> {
  const nativeConnection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection: nativeConnection,
    taskQueue: BENCH_TASK_QUEUE,
    ...workflowSource(),
    activities: createFloorActivities(),
  });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const run = (workflow: FloorWorkflow) => (i: number) =>
    client.workflow.execute(workflow, { taskQueue: BENCH_TASK_QUEUE, workflowId: `floor-${workflow}-${randomUUID()}`, args: [i] });
  try {
    return await worker.runUntil(async () => {
      await pool(WARM_UP, 1, run('floorOneActivityWorkflow'));
      return measure(run);
    });
  } finally {
    await connection.close();
    await nativeConnection.close();
  }
}

async function floorBurst(options: FloorOptions, run: (workflow: FloorWorkflow) => (i: number) => Promise<unknown>, workflow: FloorWorkflow = 'floorOneActivityWorkflow'): Promise<FloorBurst> {
  const bar = options.progress(`${workflow === 'floorOneActivityWorkflow' ? 'one-activity' : 'no-activity'} burst (${options.inFlight} in flight)`, options.burst);
  const cpuBefore = options.cpu && readCpu(options.cpu);
  const burst = await pool(options.burst, options.inFlight, run(workflow), () => bar.tick());
  bar.stop();
  const cpuMsPerWorkflow = options.cpu && cpuBefore && cpuMsPer(cpuBefore, readCpu(options.cpu), options.burst);
  return { ...burst, ...(cpuMsPerWorkflow && { cpuMsPerWorkflow }) };
}

/** The floor's one-activity burst alone: what the CoJ benchmark measures between its bursts. */
export function measureFloorBurst(temporalAddress: string, options: FloorOptions): Promise<FloorBurst> {
  return withFloorWorker(temporalAddress, (run) => floorBurst(options, run));
}

function measureWorkflows(address: string, options: FloorOptions): Promise<Pick<FloorFigures, 'oneActivityWorkflow' | 'noActivityWorkflow'>> {
  return withFloorWorker(address, async (run) => {
    const sequentialOne = await sequential('one-activity workflow, one at a time', options, run('floorOneActivityWorkflow'));
    const burst = await floorBurst(options, run);
    const sequentialNone = await sequential('no-activity workflow, one at a time', options, run('floorNoActivityWorkflow'));
    const burstNone = await floorBurst(options, run, 'floorNoActivityWorkflow');
    return { oneActivityWorkflow: { sequential: sequentialOne, burst }, noActivityWorkflow: { sequential: sequentialNone, burst: burstNone } };
  });
}

async function sequential(label: string, options: FloorOptions, task: (i: number) => Promise<unknown>): Promise<Latency> {
  const bar = options.progress(label, options.sequential);
  const result = await pool(options.sequential, 1, task, () => bar.tick());
  bar.stop();
  return onlyLatency(result);
}

/**
 * Publish (persistent, confirmed, mandatory) -> the responder consumes and replies to replyTo -> the
 * requester consumes the reply: the shape of every acknowledgement in tis-workflows, with no work in it.
 */
async function measureAmqpRoundTrip(url: string, options: FloorOptions): Promise<FloorFigures['amqpRoundTrip']> {
  const requester = await connectAmqp({ url, connectionName: 'tisw-bench-requester' });
  const responder = await connectAmqp({ url, connectionName: 'tisw-bench-responder' });
  const requests = `tisw.bench.requests.${randomUUID()}`;
  const replies = `tisw.bench.replies.${randomUUID()}`;
  try {
    const pub = await requester.createConfirmChannel();
    const sub = await requester.createChannel();
    const work = await responder.createConfirmChannel();
    await pub.assertQueue(requests, { durable: true });
    await pub.assertQueue(replies, { durable: true });
    await work.prefetch(200);
    await work.consume(requests, (msg: ConsumeMessage | null) => {
      if (!msg) return;
      work.publish('', msg.properties.replyTo as string, msg.content, { persistent: true, correlationId: msg.properties.correlationId as string }, () => work.ack(msg));
    });
    const waiting = new Map<string, () => void>();
    await sub.consume(replies, (msg: ConsumeMessage | null) => {
      if (!msg) return;
      sub.ack(msg);
      waiting.get(msg.properties.correlationId as string)?.();
    });
    const roundTrip = (i: number): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        const correlationId = `${i}-${randomUUID()}`;
        waiting.set(correlationId, () => {
          waiting.delete(correlationId);
          resolve();
        });
        const body = Buffer.from(JSON.stringify({ i, at: nowMs() }));
        pub.publish('', requests, body, { persistent: true, mandatory: true, messageId: correlationId, correlationId, replyTo: replies, contentType: 'application/json' }, (err: unknown) => {
          if (err) reject(new Error('request nacked'));
        });
      });
    await pool(WARM_UP, 1, roundTrip);
    const bar = options.progress('AMQP round trip, one at a time', options.amqpRoundTrips);
    const one = await pool(options.amqpRoundTrips, 1, roundTrip, () => bar.tick());
    bar.stop();
    const bar100 = options.progress('AMQP round trip, 100 in flight', options.amqpRoundTrips);
    const concurrent = await pool(options.amqpRoundTrips, 100, roundTrip, () => bar100.tick());
    bar100.stop();
    await pub.deleteQueue(requests);
    await pub.deleteQueue(replies);
    return { sequential: onlyLatency(one), concurrent };
  } finally {
    await requester.close().catch(() => undefined);
    await responder.close().catch(() => undefined);
  }
}

export function printFloor(f: FloorFigures, print: (line: string) => void): void {
  const lat = (l: Latency): string => `p50 ${l.p50Ms} ms, p95 ${l.p95Ms} ms, p99 ${l.p99Ms} ms (n=${l.count})`;
  print(`floor — Temporal dev server at ${f.servers.temporal} (state: ${f.servers.temporalState}), RabbitMQ at ${f.servers.amqp}`);
  print(`  one-activity workflow, one at a time   ${lat(f.oneActivityWorkflow.sequential)}`);
  const b = f.oneActivityWorkflow.burst;
  print(`  one-activity workflow, burst           ${b.perSecond} workflows/s, ${b.count} with ${b.inFlight} in flight; ${lat(b)}`);
  if (b.cpuMsPerWorkflow) print(`  processor time per burst workflow      ${cpuText(b.cpuMsPerWorkflow)}`);
  print(`  no-activity workflow, one at a time    ${lat(f.noActivityWorkflow.sequential)}`);
  const n = f.noActivityWorkflow.burst;
  print(`  no-activity workflow, burst            ${n.perSecond} workflows/s, ${n.count} with ${n.inFlight} in flight; ${lat(n)}`);
  if (n.cpuMsPerWorkflow) print(`  processor time per burst workflow      ${cpuText(n.cpuMsPerWorkflow)}`);
  print(`  AMQP round trip, one at a time         ${lat(f.amqpRoundTrip.sequential)}`);
  const c = f.amqpRoundTrip.concurrent;
  print(`  AMQP round trip, ${c.inFlight} in flight        ${c.perSecond} round trips/s; ${lat(c)}`);
}

/** "41.2 ms: temporal 24.1, bench process 15.0, ..." */
export function cpuText(cost: CpuCost): string {
  return `${cost.total} ms: ${Object.entries(cost.byProcess).map(([name, ms]) => `${name} ${ms}`).join(', ')}`;
}
