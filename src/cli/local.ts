/** `tisw up`: the whole local system in the foreground (src/local/up.ts); `tisw demo`: demo data in the local stores. */
import type { Command } from 'commander';
import { up } from '../local/up';
import { makeDemoTrainees } from '../local/demo-trainees';
import { CommandFailed, config, print, printJson } from './output';
import { positiveInt } from './parse';

export function registerLocalCommands(program: Command): void {
  program
    .command('up')
    .description('run the whole local system in the foreground (Temporal with its UI, FerretDB, the reference receivers, a worker); Ctrl-C stops it')
    .option('--no-demo', 'do not seed and start the demo (signed CoJs, ESR records, today\'s run) on an empty data directory')
    .option('--workers <n>', 'worker processes to start, a local cluster (each takes the first free metrics port from TISW_METRICS_PORT up: 9464, 9465, ...)', positiveInt, 1)
    .action(async (opts: { demo: boolean; workers: number }) => {
      await up(config(), { say: (line) => print(line), demo: opts.demo, workers: opts.workers });
    });

  const demo = program.command('demo').description('demo data in the local stores');
  demo
    .command('trainees')
    .description("make N trainees with a programme membership known to TIS's and TSS's local stores (no CoJ yet), and print their ids")
    .argument('<n>', 'how many', positiveInt)
    .option('--json', 'print [{ traineeTisId, programmeMembershipTisId }]')
    .action(async (count: number, opts: { json?: boolean }) => {
      const result = await makeDemoTrainees(config(), count);
      if (result.outcome === 'refused') throw new CommandFailed(result.reason);
      if (opts.json) return printJson(result.trainees);
      print(`${result.trainees.length} trainee(s), each with a programme membership TIS and TSS know and no CoJ yet:`);
      for (const t of result.trainees) print(`  trainee ${t.traineeTisId}  programme membership ${t.programmeMembershipTisId}`);
    });
}
