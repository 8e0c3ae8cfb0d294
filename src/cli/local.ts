/** `tisw up`: the whole local system in the foreground (src/local/up.ts). */
import type { Command } from 'commander';
import { up } from '../local/up';
import { config, print } from './output';
import { positiveInt } from './parse';

export function registerLocalCommands(program: Command): void {
  program
    .command('up')
    .description('run the whole local system in the foreground (Temporal with its UI, FerretDB, the reference receivers, a worker); Ctrl-C stops it')
    .option('--no-demo', 'do not seed and start the demo (signed CoJs, ESR records, today\'s run) on an empty data directory')
    .option('--workers <n>', 'worker processes to start, a local cluster (metrics on TISW_METRICS_PORT, +1, +2 ...)', positiveInt, 1)
    .action(async (opts: { demo: boolean; workers: number }) => {
      await up(config(), { say: (line) => print(line), demo: opts.demo, workers: opts.workers });
    });
}
