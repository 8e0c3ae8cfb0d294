/**
 * `tisw bench esr`: one day of 13 deaneries x R due records through the whole system (request ->
 * lane -> run -> per deanery: publish, exporter, acknowledgement, check), against the same 13 commands
 * sent one at a time straight to the exporter without Temporal, and the floor's one-activity workflow,
 * all in one run on the same throwaway servers (own Temporal dev server with SQLite WAL state, own
 * FerretDB database, own RabbitMQ vhost).
 *
 * Orchestration overhead per deanery = (run time - the exporter's own work time) / 13, where the
 * exporter's work time is the sum of its appFiles' finishedAt - startedAt. Target: no more than twice
 * the one-activity workflow's median latency.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../src/config/config';
import { createLogger } from '../src/config/logger';
import { connectAmqp } from '../src/adapters/amqp';
import { declareTopology } from '../src/adapters/amqp-topology';
import { connectClient } from '../src/adapters/temporal';
import { dueWindow, EsrStore, type GeneratedAppRecord } from '../src/adapters/esr-store';
import { requestEsrRun } from '../src/client/esr';
import { startEsrExporter } from '../src/receivers/esr-exporter';
import { appFileCommandId, DEANERIES } from '../src/shared/esr';
import { startWorker } from '../src/worker/worker';
import { measureFloor } from './floor';
import { nowMs, round, type ProgressBars } from './measure';
import { startBenchSystem } from './bench-system';

export interface EsrBenchOptions {
  /** Due records per deanery. @default 200 */
  recordsPerDeanery: number;
  /** Progress bars, given by the CLI (which draws them only on a terminal). */
  progress: ProgressBars;
}

export interface EsrDayFigures {
  totalMs: number;
  exporterMs: number;
  overheadPerDeaneryMs: number;
}

export interface EsrBenchFigures {
  recordsPerDeanery: number;
  throughTemporal: EsrDayFigures;
  straightToExporter: EsrDayFigures;
  /** throughTemporal.totalMs / straightToExporter.totalMs */
  ratio: number;
  floorOneActivityP50Ms: number;
  /** overhead per deanery / floor one-activity p50; the target is at most 2. */
  overheadToFloor: number;
}

export async function runEsrBench(base: Config, options: EsrBenchOptions): Promise<EsrBenchFigures> {
  const system = await startBenchSystem(base, 'esr');
  const { config, stack } = system;
  const cleanups: Array<() => Promise<unknown>> = [() => system.stop()];
  try {
    const log = createLogger({ ...config, logLevel: 'warn' }, 'tisw-bench-esr');
    const store = await EsrStore.open(config.mongo.esr, 'tisw-bench', { createIndexes: true }); // it runs the exporter in this process
    cleanups.push(async () => {
      await store.db.dropDatabase();
      await store.close();
    });
    const client = await connectClient(config.temporal);
    cleanups.push(() => client.connection.close());
    const exporter = startEsrExporter({ amqpUrl: config.amqp.url, store, filesDir: config.esr.filesDir, log });
    cleanups.push(() => exporter.stop());
    await exporter.ready;
    const worker = await startWorker(config, log, { ensureClusterSetup: false });
    const running = worker.run();
    cleanups.push(async () => {
      worker.shutdown();
      await running;
    });
    await worker.ready; // its acknowledgement listener consumes

    const seed = async (runDate: string): Promise<void> => {
      const { from } = dueWindow(runDate);
      const records: GeneratedAppRecord[] = DEANERIES.flatMap((deanery) =>
        Array.from({ length: options.recordsPerDeanery }, (_, i) => ({
          _id: randomUUID(),
          deanery,
          placementId: `P${i}`,
          positionNumber: `${deanery}/RTH01/${i}`,
          applicant: { forenames: 'Ada', surname: `Lovelace${i}` },
          placementStartDate: from,
          status: 'TO_EXPORT' as const,
        })),
      );
      for (let i = 0; i < records.length; i += 1000) await store.records.insertMany(records.slice(i, i + 1000));
    };
    const exporterMs = async (runDate: string): Promise<number> =>
      (await store.appFilesOf(runDate)).reduce((sum, f) => sum + ((f.finishedAt?.getTime() ?? 0) - f.startedAt.getTime()), 0);
    const day = (total: number, exporter: number): EsrDayFigures => ({ totalMs: round(total), exporterMs: round(exporter), overheadPerDeaneryMs: round((total - exporter) / DEANERIES.length) });

    // Warm-up: starts the lane and loads the workflow code.
    await requestEsrRun(client, { taskQueue: config.temporal.taskQueue, runDate: '2090-01-01', deaneries: ['EMD'] });

    const viaTemporal = '2090-06-01';
    await seed(viaTemporal);
    const bar = options.progress(`ESR day through Temporal (13 x ${options.recordsPerDeanery})`, DEANERIES.length);
    let done = 0;
    const t0 = nowMs();
    await requestEsrRun(client, {
      taskQueue: config.temporal.taskQueue,
      runDate: viaTemporal,
      deaneries: [...DEANERIES],
      pollMs: 200,
      onStatus: (s) => {
        const now = s.deaneries.filter((d) => d.stage === 'done').length;
        if (now > done) bar.tick(now - done);
        done = now;
      },
    });
    const temporalTotal = nowMs() - t0;
    bar.stop();
    const throughTemporal = day(temporalTotal, await exporterMs(viaTemporal));

    const direct = '2091-06-01';
    await seed(direct);
    const directTotal = await sendStraight(config.amqp.url, direct, options.progress);
    const straightToExporter = day(directTotal, await exporterMs(direct));

    const floor = await measureFloor(stack.temporalAddress, config.amqp.url, { burst: 50, inFlight: 10, sequential: 100, amqpRoundTrips: 100, persist: true, progress: options.progress });
    const floorP50 = floor.oneActivityWorkflow.sequential.p50Ms;
    return {
      recordsPerDeanery: options.recordsPerDeanery,
      throughTemporal,
      straightToExporter,
      ratio: round(throughTemporal.totalMs / straightToExporter.totalMs),
      floorOneActivityP50Ms: floorP50,
      overheadToFloor: round(throughTemporal.overheadPerDeaneryMs / floorP50),
    };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}

/** The 13 commands one at a time straight to the exporter (publish, wait for its reply): no Temporal. */
async function sendStraight(url: string, runDate: string, showProgress: ProgressBars): Promise<number> {
  const connection = await connectAmqp({ url, connectionName: 'tisw-bench-direct' });
  try {
    const channel = await connection.createConfirmChannel();
    await declareTopology(channel);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    const waiting = new Map<string, () => void>();
    await channel.consume(queue, (m) => m && waiting.get(String(m.properties.correlationId))?.(), { noAck: true });
    const bar = showProgress('ESR day straight to the exporter', DEANERIES.length);
    const t0 = nowMs();
    for (const deanery of DEANERIES) {
      const commandId = appFileCommandId(runDate, deanery, 1);
      await new Promise<void>((resolve, reject) => {
        waiting.set(commandId, resolve);
        channel.publish('', 'esr.queue.appfilegenerationcommand.create.dataexporter', Buffer.from(JSON.stringify({ commandId, deanery, runDate })), {
          persistent: true,
          mandatory: true,
          contentType: 'application/json',
          messageId: commandId,
          correlationId: commandId,
          replyTo: queue,
        }, (err: unknown) => err && reject(new Error('nacked')));
      });
      bar.tick();
    }
    const total = nowMs() - t0;
    bar.stop();
    return total;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

export function printEsrBench(f: EsrBenchFigures, print: (line: string) => void): void {
  print(`ESR app files — 13 deaneries x ${f.recordsPerDeanery} due records, one day each way, same servers`);
  const line = (label: string, d: EsrDayFigures): void =>
    print(`  ${label.padEnd(34)} ${d.totalMs} ms in all; exporter's own work ${d.exporterMs} ms; overhead per deanery ${d.overheadPerDeaneryMs} ms`);
  line('through Temporal (lane, run)', f.throughTemporal);
  line('straight to the exporter', f.straightToExporter);
  print(`  ratio (through Temporal / straight) ${f.ratio}`);
  print(`  floor: one-activity workflow p50    ${f.floorOneActivityP50Ms} ms`);
  print(`  overhead per deanery / floor p50    ${f.overheadToFloor} (target: at most 2)`);
}
