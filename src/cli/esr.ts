/**
 * `tisw esr run`, `tisw esr backfill`: one day's app files or a range of days, through the lane, with a
 * progress bar over every deanery of every day; `tisw esr exporter`: the reference exporter alone.
 */
import type { Command } from 'commander';
import { createLogger } from '../config/logger';
import { startConfiguredEsrExporter } from '../receivers/esr-exporter';
import { backfillDays, backfillEsr, esrSettings, type EsrFile } from '../client/esr';
import { DEANERIES, type Deanery, type EsrRunStatus } from '../shared/esr';
import { config, print, printJson, untilStopped, UsageError, withClient } from './output';
import { deaneries as parseDeaneries, runDate } from './parse';
import { progress } from './progress';

export function registerEsrCommands(program: Command): void {
  const esr = program.command('esr').description('daily ESR app files: runs and backfills, one generation at a time through the lane');
  esr
    .command('run')
    .description("make one day's app files through the lane (safe to repeat: a deanery with nothing new due keeps the files already made); waits for the outcome")
    .requiredOption('--date <YYYY-MM-DD>', 'the run date')
    .option('--deanery <codes...>', `deaneries (default all 13: ${DEANERIES.join(' ')})`)
    .option('--json', 'print each file as { runDate, deanery, fileName, sequence, recordCount, skipped }')
    .action(async (opts: { date: string; deanery?: string[]; json?: boolean }) => {
      const date = runDate('--date', opts.date);
      await runDays(date, date, parseDeaneries(opts.deanery), opts.json === true);
    });
  esr
    .command('backfill')
    .description('make the app files of a range of days, one day after another through the lane, with progress per deanery')
    .requiredOption('--from <YYYY-MM-DD>', 'first run date')
    .requiredOption('--to <YYYY-MM-DD>', 'last run date (inclusive)')
    .option('--deanery <codes...>', 'deaneries (default all 13)')
    .option('--json', 'print each file as { runDate, deanery, fileName, sequence, recordCount, skipped }')
    .action(async (opts: { from: string; to: string; deanery?: string[]; json?: boolean }) => {
      const [from, to] = [runDate('--from', opts.from), runDate('--to', opts.to)];
      if (from > to) throw new UsageError(`--from ${from} is after --to ${to}`);
      await runDays(from, to, parseDeaneries(opts.deanery), opts.json === true);
    });

  esr
    .command('exporter')
    .description('run the reference ESR data exporter alone (consumes app-file commands, writes files to TISW_ESR_FILES_DIR) until Ctrl-C')
    .action(async () => {
      const cfg = config();
      const log = createLogger(cfg, 'tisw-esr-exporter');
      const exporter = await startConfiguredEsrExporter(cfg, log);
      await exporter.ready;
      log.info({ filesDir: cfg.esr.filesDir }, 'ESR data exporter running');
      await untilStopped();
      await exporter.stop();
    });
}

/** Runs the days through the lane, printing each file as its deanery finishes (or the files as JSON at the end). */
async function runDays(from: string, to: string, deaneries: Deanery[], json: boolean): Promise<void> {
  const days = backfillDays(from, to);
  const bar = progress(`ESR app files, ${days.length} day(s)`, days.length * deaneries.length, !json && process.stderr.isTTY);
  let files: EsrFile[] = [];
  try {
    await withClient(async (client, cfg) => {
      const reported = new Set<string>();
      const onStatus = (s: EsrRunStatus): void => {
        for (const d of s.deaneries) {
          const key = `${s.runDate}:${d.deanery}:${d.stage}:${d.alerts}`;
          if (reported.has(key)) continue;
          reported.add(key);
          if (d.stage === 'done') {
            bar.tick();
            if (!json) for (const f of d.files) print(`${s.runDate} ${d.deanery}  ${f.fileName}  sequence ${f.sequence}  ${f.recordCount} record(s)${f.skipped.length ? `, ${f.skipped.length} skipped` : ''}`);
          } else if (d.stage === 'failing' && !json) {
            print(`${s.runDate} ${d.deanery}  failing (alert raised): ${d.lastFailure ?? ''}; the run will come back to it`);
          }
        }
      };
      files = await backfillEsr(client, { ...esrSettings(cfg), from, to, deaneries, onStatus });
    });
  } finally {
    bar.stop();
  }
  if (json) printJson(files);
}
