/**
 * `tisw drill esr-2021|coj-2023`: an incident on demand, the old way beside tis-workflows, on throwaway resources of
 * the local stack (src/drills/). Ctrl-C stops it and removes what it made.
 */
import type { Command } from 'commander';
import type { Config } from '../config/config';
import { createLogger, type Logger } from '../config/logger';
import { runCojDrill, type CojDrillReport, type CojDrillSide } from '../drills/coj-2023';
import type { DrillEnd } from '../drills/drill';
import { runEsrDrill, type EsrDrillReport, type EsrDrillSide } from '../drills/esr-2021';
import { CommandFailed, config, print, printJson, printTable } from './output';
import { progressBars } from './progress';

export function registerDrillCommands(program: Command): void {
  const drill = program.command('drill').description('the incidents on demand, the old way beside tis-workflows, on throwaway resources of the local stack (removed afterwards)');
  drill
    .command('esr-2021')
    .description(
      'July 2021: one day of 13 ESR app-file commands sent all at once to an exporter that takes file numbers the old way (read-modify-write of one counter, no retries), beside the same day through the lane; local stack only (`tisw up`)',
    )
    .option('--json', 'print the report as one JSON object')
    .action((opts: { json?: boolean }) => runDrill('esr-2021', opts, (cfg, options) => runEsrDrill(cfg, options), printReport));
  drill
    .command('coj-2023')
    .description(
      'July 2023: CoJs signed while RabbitMQ is in a memory alarm and TIS\'s queue has no consumer, published the old way (save, then fire-and-forget) beside tis-workflows (the CoJ submission workflow: confirms, resends, alerts); on a private RabbitMQ node; local stack only (`tisw up`)',
    )
    .option('--json', 'print the report as one JSON object')
    .action((opts: { json?: boolean }) => runDrill('coj-2023', opts, (cfg, options) => runCojDrill(cfg, options), printCojReport));
}

/** Runs one drill: Ctrl-C removes what it made (twice: leaves it for the next run to sweep); the report, or --json. */
async function runDrill<R extends DrillEnd>(
  name: string,
  opts: { json?: boolean },
  run: (cfg: Config, options: { log: Logger; signal: AbortSignal; progress: ReturnType<typeof progressBars> }) => Promise<R>,
  printText: (report: R) => void,
): Promise<void> {
  const cfg = config();
  const log = createLogger({ ...cfg, logLevel: cfg.logLevel === 'debug' ? 'debug' : 'error' }, 'tisw-drill');
  const controller = new AbortController();
  const interrupt = (): void => {
    if (controller.signal.aborted) {
      process.stderr.write(`tisw: stopped before its cleanup: the next \`tisw drill ${name}\` removes what this one left\n`);
      process.exit(1);
    }
    process.stderr.write('tisw: interrupted; removing what the drill made (Ctrl-C again to leave it)\n');
    controller.abort();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  let report: R;
  try {
    report = await run(cfg, { log, signal: controller.signal, progress: progressBars(opts.json) });
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
  if (opts.json) printJson(report);
  else printText(report);
  if (report.leftBehind.length > 0) throw new CommandFailed(`the drill could not remove: ${report.leftBehind.join('; ')}`);
}

/** 3754, 3755, 3757 → "3754-3755, 3757". */
export function numberRanges(numbers: readonly number[]): string {
  const sorted = [...new Set(numbers)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] ?? 0) + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(', ') || 'none';
}

/** Failures grouped by their reason: thirteen identical lines say less than one. */
function byReason(failures: ReadonlyArray<{ deanery: string; reason: string }>): Map<string, string[]> {
  const grouped = new Map<string, string[]>();
  for (const f of failures) grouped.set(f.reason, [...(grouped.get(f.reason) ?? []), f.deanery]);
  return grouped;
}

const seconds = (ms: number): string => (ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

function printReport(r: EsrDrillReport): void {
  const { oldWay: o, tisWorkflows: n } = r;
  const total = r.deaneries.length;
  print(`tisw drill esr-2021: one day of ESR app files (run date ${r.runDate}, ${total} deaneries, ${o.recordsDue} records due, counter at ${o.counterBefore}), the old way beside tis-workflows`);
  print('');
  const numbers = (s: EsrDrillSide): string => (s.consecutive ? `${numberRanges(s.files.map((f) => f.sequence))}, consecutive` : s.files.map((f) => f.sequence).join(', ') || 'none');
  const left = (s: EsrDrillSide): string => `${s.recordsLeftToExport} of ${s.recordsDue}${s.deaneriesLeft.length ? `, in ${s.deaneriesLeft.length} deaneries` : ''}`;
  const row = (label: string, value: (s: EsrDrillSide) => string): string[] => [label, value(o), value(n)];
  printTable(
    ['', 'the old way (2021)', 'tis-workflows'],
    [
      ['commands', `${o.commands} at once, 13 in flight`, `${n.commands}, one deanery at a time (${n.publishes} publishes)`],
      row('generation failures', (s) => String(s.generationFailures) + (s === o && s.generationFailures > 0 ? ' (WriteConflict, not retried)' : '')),
      row('files made', (s) => `${s.filesMade} of ${s.commands}`),
      row('file numbers (as made)', numbers),
      row('duplicated numbers', (s) => numberRanges(s.duplicatedNumbers)),
      row(`missing (of ${o.counterBefore + 1}-${o.counterBefore + total})`, (s) => numberRanges(s.missingNumbers)),
      row('records left TO_EXPORT', left),
      row('counter after', (s) => String(s.counterAfter)),
      row('took', (s) => seconds(s.tookMs)),
    ],
  );
  print('');
  print(`The old way: ${o.how}.`);
  print(`  The race: ${o.race}`);
  for (const [reason, deaneries] of byReason(o.failures)) print(`  ${deaneries.join(' ')}: ${reason}`);
  if (o.recordsLeftToExport > 0) {
    print(`  Records left TO_EXPORT in ${o.deaneriesLeft.join(' ')}. Nothing retries them: in 2021 such records stayed TO_EXPORT for days, until the commands were re-sent by hand, one at a time.`);
  }
  print(`tis-workflows: ${n.how} (acknowledgement: ${n.acknowledgement}; workflow ${n.workflowId}).`);
  for (const [reason, deaneries] of byReason(n.failures)) print(`  ${deaneries.join(' ')}: ${reason}`);
  print('');
  printMade(r, r.swept);
}

function printMade(r: DrillEnd, swept: readonly string[]): void {
  const made = [
    ...r.made.nodes.map((n) => `RabbitMQ node ${n}`),
    ...r.made.vhosts.map((v) => `vhost ${v}`),
    ...r.made.databases.map((d) => `database ${d}`),
    ...r.made.namespaces.map((ns) => `namespace ${ns}`),
    ...r.made.dirs.map((d) => `directory ${d}`),
  ];
  print(`Made and removed: ${made.join(', ')}${swept.length ? `; also removed what an interrupted drill had left: ${swept.join(', ')}` : ''}. The drill took ${seconds(r.tookMs)}.`);
  if (r.leftBehind.length > 0) print(`NOT removed: ${r.leftBehind.join('; ')}`);
}

const at = (ms: number | null): string => (ms === null ? 'never' : `+${seconds(ms)}`);

function printCojReport(r: CojDrillReport): void {
  const { oldWay: o, tisWorkflows: n, timeline: tl } = r;
  print(`tisw drill coj-2023: ${o.signed} CoJs signed while RabbitMQ is in a memory alarm and TIS's queue has no consumer, the old way beside tis-workflows`);
  print(
    `Timeline (from the alarm raised): broker blocking publishers +${seconds(tl.brokerBlockingAtMs)}; CoJs signed +${seconds(tl.firstSignedAtMs)} to +${seconds(tl.lastSignedAtMs)}; ` +
      `old TSS pod restarted +${seconds(tl.podRestartAtMs)}; alarm cleared +${seconds(tl.alarmClearedAtMs)}; TIS's receiver back +${seconds(tl.receiverBackAtMs)}`,
  );
  print('');
  const row = (label: string, value: (s: CojDrillSide) => string): string[] => [label, value(o), value(n)];
  const kinds = (s: CojDrillSide): string => {
    const raised = s.alerts.filter((a) => !a.resolved);
    if (raised.length === 0) return 'none';
    const counts = new Map<string, number>();
    for (const a of raised) counts.set(a.kind, (counts.get(a.kind) ?? 0) + 1);
    return [...counts].map(([kind, count]) => `${kind} ${count}`).join(', ');
  };
  printTable(
    ['', 'the old way (2023)', 'tis-workflows'],
    [
      ['how it publishes', 'fire-and-forget, no confirms', `confirms, resent until acknowledged (${n.acknowledgement} mode)`],
      row('CoJs signed', (s) => String(s.signed)),
      row('reached TIS', (s) => `${s.reachedTis} of ${s.signed}`),
      row('lost', (s) => String(s.lost.length)),
      ['publishes', `${o.publishes}, each "sent" at once`, `${n.publishes} (confirmed or failed), ${n.acknowledged} runs acknowledged`],
      row('first alert', (s) => (s.firstAlert ? `${s.firstAlert.kind} at +${seconds(s.firstAlert.atMs)}` : 'none')),
      row('alerts raised', kinds),
      row('last CoJ reached TIS', (s) => at(s.lastReachedTisAtMs)),
      row('still on the queue', (s) => String(s.stillQueued)),
    ],
  );
  print('');
  print(`The old way: ${o.how}.`);
  print(`  ${o.podRestart}.`);
  for (const l of o.lost) print(`  lost: programme membership ${l.programmeMembershipTisId}, signed ${l.signedAt}`);
  if (o.lost.length > 0) print('  Nothing alerted. In 2023, 10 such CoJs were found by a user 11 days later and resent by hand.');
  print(`tis-workflows: ${n.how}.`);
  if (n.publishFailure) print(`  A failed publish, as a run's status shows it: ${n.publishFailure}`);
  if (n.firstAlert) print(`  First alert: ${n.firstAlert.kind}: ${n.firstAlert.summary}`);
  for (const l of n.lost) print(`  NOT delivered: programme membership ${l.programmeMembershipTisId}, signed ${l.signedAt}`);
  print('');
  printMade(r, r.swept);
}
