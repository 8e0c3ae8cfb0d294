/**
 * `tisw bench floor|coj|esr|reconcile|sync-watch`: the benchmarks (bench/). floor, coj and esr print their figures
 * beside the floor measured in the same run; reconcile and sync-watch time one round of a store-reading job at size.
 */
import { Option, type Command } from 'commander';
import { COJ_ACKNOWLEDGEMENT_MODES, type CojAcknowledgementMode } from '../shared/coj';
import { quietRuntime } from '../worker/worker';
import { printFloor, runFloorBench } from '../../bench/floor';
import { printCoj, runCojBench } from '../../bench/coj';
import { printEsrBench, runEsrBench } from '../../bench/esr';
import { printReconcileBench, runReconcileBench } from '../../bench/reconcile';
import { printSyncWatch, runSyncWatchBench } from '../../bench/sync-watch';
import { config, print, printJson } from './output';
import { positiveInt, positiveInts } from './parse';
import { progressBars } from './progress';

export function registerBenchCommands(program: Command): void {
  const bench = program.command('bench').description('benchmarks; each prints its figures beside the floor measured in the same run');
  bench
    .command('floor')
    .description('the floor: a one-activity workflow (one at a time, and a burst), a workflow with no activity, the bare AMQP round trip')
    .option('--burst <n>', 'workflows in the burst', positiveInt, 1000)
    .option('--in-flight <n>', 'workflows in flight during the burst', positiveInt, 50)
    .option('--sequential <n>', 'workflows run one at a time, for latency', positiveInt, 200)
    .option('--amqp <n>', 'AMQP round trips, for each of one at a time and 100 in flight', positiveInt, 2000)
    .option('--in-memory', 'Temporal keeps its state in memory instead of a SQLite file')
    .option('--json', 'print the figures as JSON')
    .action(async (opts: { burst: number; inFlight: number; sequential: number; amqp: number; inMemory?: boolean; json?: boolean }) => {
      const cfg = config();
      quietRuntime(cfg);
      const figures = await runFloorBench(cfg, {
        burst: opts.burst,
        inFlight: opts.inFlight,
        sequential: opts.sequential,
        amqpRoundTrips: opts.amqp,
        persist: !opts.inMemory,
        progress: progressBars(opts.json),
      });
      if (opts.json) printJson(figures);
      else printFloor(figures, print);
    });

  bench
    .command('coj')
    .description('N CoJs as a burst through a throwaway copy of the system, in each acknowledgement mode: rate, latency, worker memory, the sync watcher\'s share, beside the floor')
    .option('--count <n>', 'CoJs in the burst', positiveInt, 2000)
    .option('--in-flight <n>', 'concurrent submit calls', positiveInt, 50)
    .option('--floor-burst <n>', 'workflows in the floor burst measured in the same run', positiveInt, 1000)
    .option('--bursts <n>', 'bursts of --count one after another, each between two floor bursts (the ratios are the medians; the worker\'s memory is read after each)', positiveInt, 3)
    .option('--workers <n>', 'tisw worker processes, a cluster (the floor keeps one worker)', positiveInt, 1)
    .addOption(new Option('--acknowledgement <mode>', 'measure one mode only (default: synced, then reply, in one run)').choices([...COJ_ACKNOWLEDGEMENT_MODES]))
    .option('--json', 'print the figures as JSON')
    .action(async (opts: { count: number; inFlight: number; floorBurst: number; bursts: number; workers: number; acknowledgement?: CojAcknowledgementMode; json?: boolean }) => {
      const cfg = config();
      quietRuntime(cfg);
      const figures = await runCojBench(cfg, {
        count: opts.count,
        inFlight: opts.inFlight,
        floorBurst: opts.floorBurst,
        bursts: opts.bursts,
        workers: opts.workers,
        ...(opts.acknowledgement && { acknowledgements: [opts.acknowledgement] }),
        progress: progressBars(opts.json),
      });
      if (opts.json) printJson(figures);
      else printCoj(figures, print);
    });

  bench
    .command('esr')
    .description('one ESR day (13 deaneries x R due records) through Temporal and straight to the exporter, with the floor, on throwaway servers')
    .option('--records <n>', 'due records per deanery', positiveInt, 200)
    .option('--json', 'print the figures as JSON')
    .action(async (opts: { records: number; json?: boolean }) => {
      const cfg = config();
      quietRuntime(cfg);
      const figures = await runEsrBench(cfg, { recordsPerDeanery: opts.records, progress: progressBars(opts.json) });
      if (opts.json) printJson(figures);
      else printEsrBench(figures, print);
    });

  bench
    .command('reconcile')
    .description("one reconciliation round (findUnsynced) over a large TSS store on a FerretDB of its own: time, and documents examined where the server says")
    .option('--profiles <n>', 'profiles in the store', positiveInt, 100_000)
    .option('--unsynced <n>', 'of them, CoJs signed and not yet synced', positiveInt, 100)
    .option('--rounds <n>', 'rounds timed', positiveInt, 3)
    .option('--json', 'print the figures as JSON')
    .action(async (opts: { profiles: number; unsynced: number; rounds: number; json?: boolean }) => {
      const figures = await runReconcileBench(config(), { profiles: opts.profiles, unsynced: opts.unsynced, rounds: opts.rounds, progress: progressBars(opts.json) });
      if (opts.json) printJson(figures);
      else printReconcileBench(figures, print);
    });

  bench
    .command('sync-watch')
    .description('one round of the sync watcher (synced mode) with N CoJs waiting on a TSS store of 100,000 profiles, none and all of them synced, on throwaway servers')
    .addOption(new Option('--sizes <list>', 'numbers of waiting CoJs, comma-separated').argParser(positiveInts).default([100, 1000, 10000], '100,1000,10000'))
    .option('--profiles <n>', "trainee profiles in TSS's store", positiveInt, 100_000)
    .option('--rounds <n>', 'rounds per size and case (the median round is printed)', positiveInt, 3)
    .option('--in-flight <n>', 'runs started at once while making the CoJs wait', positiveInt, 100)
    .option('--json', 'print the figures as JSON')
    .action(async (opts: { sizes: number[]; profiles: number; rounds: number; inFlight: number; json?: boolean }) => {
      const cfg = config();
      quietRuntime(cfg);
      const figures = await runSyncWatchBench(cfg, { sizes: opts.sizes, profiles: opts.profiles, rounds: opts.rounds, inFlight: opts.inFlight, progress: progressBars(opts.json) });
      if (opts.json) printJson(figures);
      else printSyncWatch(figures, print);
    });
}
