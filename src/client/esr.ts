/**
 * The ESR side of `tisw`: the daily Schedule (`tisw schedule ...`), one day's run and backfills
 * (`tisw esr run`, `tisw esr backfill`), and the reference exporter alone (`tisw esr exporter`; `tisw receivers`
 * runs it beside the CoJ receiver through startEsrReceiver). Every run goes
 * through the one lane (esrRequestWorkflow signals esrLaneWorkflow), so a re-run or backfill started
 * while the scheduled run is going waits its turn.
 */
import { randomUUID } from 'node:crypto';
import { ScheduleOverlapPolicy, type Client, type ScheduleDescription, type ScheduleOptions, type ScheduleSpec, type WorkflowHandle } from '@temporalio/client';
import type { Command } from 'commander';
import { createLogger } from '../config/logger';
import { connectClient } from '../adapters/temporal';
import { startEsrReceiver } from '../receivers/esr-exporter';
import {
  DEANERIES,
  ESR_SCHEDULE_ID,
  ESR_SCHEDULED_WORKFLOW_ID,
  esrRequestWorkflowId,
  esrRunStatusQuery,
  esrRunWorkflowId,
  isDeanery,
  type Deanery,
  type EsrRequestInput,
  type EsrRunStatus,
  type EsrTimings,
} from '../shared/contract';
import { describeIssues, isoDate } from '../shared/messages';
import { InvalidInputError } from '../shared/errors';
import { config, print, printJson, UsageError } from './output';
import { ensureSchedule, ensureSchedules, SCHEDULE_IDS, setSchedulePaused } from './schedules';
import { progress } from './progress';
import { quietRuntime } from '../worker/worker';
import { printEsrBench, runEsrBench } from '../../bench/esr';

// -------------------------------------------------------------------------------------------------
// The Schedule

/**
 * 13:00 UTC daily, as TIS's cron job ran. Overlap ALLOW_ALL: the lane, not the Schedule, keeps one
 * generation at a time, and a day that is still retrying a failing deanery must not hold back (or, with
 * SKIP, lose) the next day's request: it queues in the lane, visibly. Catch-up window 7 days: after an
 * outage of up to a week each missed day still gets its run, with its own run date (taken from the
 * scheduled time, see esrRequestWorkflow); beyond that, `tisw esr backfill`.
 */
export const ESR_SCHEDULE: { spec: ScheduleSpec & { cronExpressions: string[] }; policies: { overlap: ScheduleOverlapPolicy; catchupWindow: number; pauseOnFailure: boolean } } = {
  spec: { cronExpressions: ['0 13 * * *'] },
  policies: { overlap: ScheduleOverlapPolicy.ALLOW_ALL, catchupWindow: 7 * 86_400_000, pauseOnFailure: false },
};

/** The daily ESR schedule as a definition (the shape a list of the project's schedules takes). */
export function esrScheduleDefinition(taskQueue: string): ScheduleOptions {
  return {
    scheduleId: ESR_SCHEDULE_ID,
    spec: ESR_SCHEDULE.spec,
    action: {
      type: 'startWorkflow',
      workflowType: 'esrRequestWorkflow',
      workflowId: ESR_SCHEDULED_WORKFLOW_ID,
      taskQueue,
      args: [{} satisfies EsrRequestInput],
    },
    policies: ESR_SCHEDULE.policies,
    state: { note: 'daily ESR app files (created by tis-workflows)' },
  };
}

/** Creates the daily schedule, or brings an existing one up to date keeping its paused state and note. */
export function ensureEsrSchedule(client: Client, taskQueue: string): Promise<'created' | 'updated'> {
  return ensureSchedule(client, esrScheduleDefinition(taskQueue));
}

export interface ScheduleSummaryOut {
  scheduleId: string;
  paused: boolean;
  note: string | null;
  /** When it fires: cron expressions (UTC), or "every N min" for an interval schedule. */
  cron: string[];
  overlap: string;
  catchupWindowMs: number;
  nextActionTimes: string[];
  recentActions: Array<{ scheduledAt: string; takenAt: string; workflowId: string }>;
  runningWorkflows: string[];
}

export function summariseSchedule(d: ScheduleDescription): ScheduleSummaryOut {
  return {
    scheduleId: d.scheduleId,
    paused: d.state.paused,
    note: d.state.note ?? null,
    cron: [
      ...(d.scheduleId === ESR_SCHEDULE_ID ? ESR_SCHEDULE.spec.cronExpressions : []),
      ...(d.spec.intervals ?? []).map((i) => `every ${Math.round(Number(i.every) / 60_000)} min`),
    ],
    overlap: String(d.policies.overlap),
    catchupWindowMs: d.policies.catchupWindow,
    nextActionTimes: d.info.nextActionTimes.map((t) => t.toISOString()),
    recentActions: d.info.recentActions.map((a) => ({ scheduledAt: a.scheduledAt.toISOString(), takenAt: a.takenAt.toISOString(), workflowId: a.action.workflow.workflowId ?? '' })),
    runningWorkflows: d.info.runningActions.map((a) => a.workflow.workflowId),
  };
}

// -------------------------------------------------------------------------------------------------
// Runs through the lane

export interface EsrRunOptions {
  runDate: string;
  deaneries: Deanery[];
  timings?: Partial<EsrTimings>;
  taskQueue: string;
  /** Called whenever the run's status is seen to change (polled). */
  onStatus?: (status: EsrRunStatus) => void;
  /** @default 500 */
  pollMs?: number;
}

/**
 * Checks a run request in full before anything starts: a caller gets an InvalidInputError naming every
 * problem, where the workflow's own check would leave a failed run and a bare "Workflow execution failed".
 */
export function checkEsrRunRequest(options: Pick<EsrRunOptions, 'runDate' | 'deaneries' | 'timings'>): void {
  const date = isoDate.safeParse(options.runDate);
  const deaneries: unknown[] = Array.isArray(options.deaneries) ? options.deaneries : [];
  const unknown = deaneries.filter((d) => typeof d !== 'string' || !isDeanery(d));
  const problems = [
    !date.success && `${describeIssues(date.error).replace(/^\(message\)/, 'runDate')}; got ${JSON.stringify(options.runDate)}`,
    !Array.isArray(options.deaneries) ? `deaneries: must be a list of deanery codes; got ${JSON.stringify(options.deaneries)}` : deaneries.length === 0 && 'deaneries: name at least one deanery',
    unknown.length > 0 && `deaneries: unknown deanery ${unknown.map(String).join(', ')}; known: ${DEANERIES.join(', ')}`,
    ...Object.entries(options.timings ?? {}).map(([name, value]) => (!Number.isInteger(value) || (value as number) < 1) && `timings.${name}: must be a whole number of at least 1; got ${String(value)}`),
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) throw new InvalidInputError(`invalid ESR run request: ${problems.join('; ')}`);
}

/** Asks the lane for one day's files; the request workflow's handle, whose result is the run's outcome. */
export async function startEsrRequest(client: Client, options: Omit<EsrRunOptions, 'onStatus' | 'pollMs'>): Promise<{ requestId: string; handle: WorkflowHandle }> {
  checkEsrRunRequest(options);
  const requestId = `cli-${options.runDate}-${randomUUID().slice(0, 8)}`;
  const handle = await client.workflow.start('esrRequestWorkflow', {
    taskQueue: options.taskQueue,
    workflowId: esrRequestWorkflowId(requestId),
    args: [{ requestId, runDate: options.runDate, deaneries: options.deaneries, ...(options.timings && { timings: options.timings }) } satisfies EsrRequestInput],
  });
  return { requestId, handle };
}

/** Asks the lane for one day's files and waits for the outcome, reporting progress on the way. */
export async function requestEsrRun(client: Client, options: EsrRunOptions): Promise<EsrRunStatus> {
  const { requestId, handle } = await startEsrRequest(client, options);
  const result = handle.result() as Promise<EsrRunStatus>;
  if (!options.onStatus) return result;
  let done = false;
  let last = '';
  const watch = async (): Promise<void> => {
    const run = client.workflow.getHandle(esrRunWorkflowId({ runDate: options.runDate, requestId }));
    while (!done) {
      try {
        const status = await run.query(esrRunStatusQuery);
        const key = JSON.stringify(status);
        if (key !== last) options.onStatus?.(status);
        last = key;
      } catch {
        // still queued in the lane: the run does not exist yet
      }
      await new Promise((r) => setTimeout(r, options.pollMs ?? 500));
    }
  };
  const watching = watch();
  try {
    const status = await result;
    options.onStatus(status);
    return status;
  } finally {
    done = true;
    await watching;
  }
}

/** Each file of the run, as `--json` prints them. */
export function filesOf(status: EsrRunStatus): Array<{ runDate: string; deanery: string; fileName: string; sequence: number; recordCount: number; skipped: number }> {
  return status.deaneries.flatMap((d) =>
    d.files.map((f) => ({ runDate: status.runDate, deanery: d.deanery, fileName: f.fileName, sequence: f.sequence, recordCount: f.recordCount, skipped: f.skipped.length })),
  );
}

/** The days from `from` to `to`, inclusive. */
export function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000) days.push(new Date(t).toISOString().slice(0, 10));
  return days;
}

function parseDate(name: string, value: string): string {
  const parsed = isoDate.safeParse(value);
  if (!parsed.success) throw new UsageError(`${name} ${parsed.error.issues[0]?.message ?? 'must be a date YYYY-MM-DD'}; got "${value}"`);
  return parsed.data;
}

function parseDeaneries(values: string[] | undefined): Deanery[] {
  if (!values || values.length === 0) return [...DEANERIES];
  const codes = values.flatMap((v) => v.split(',')).map((v) => v.trim().toUpperCase()).filter(Boolean);
  const unknown = codes.filter((c) => !isDeanery(c));
  if (unknown.length > 0) throw new UsageError(`unknown deanery ${unknown.join(', ')}; known: ${DEANERIES.join(', ')}`);
  return DEANERIES.filter((d) => codes.includes(d));
}

// -------------------------------------------------------------------------------------------------
// Commands

async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectClient(config().temporal);
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

/** Runs the days one after another through the lane, with one progress bar over every deanery of every day. */
async function runDays(days: string[], deaneries: Deanery[], json: boolean): Promise<void> {
  const bar = progress(`ESR app files, ${days.length} day(s)`, days.length * deaneries.length, !json && process.stderr.isTTY);
  const all: ReturnType<typeof filesOf> = [];
  try {
    await withClient(async (client) => {
      for (const runDate of days) {
        const reported = new Set<string>();
        const status = await requestEsrRun(client, {
          taskQueue: config().temporal.taskQueue,
          runDate,
          deaneries,
          onStatus: (s) => {
            for (const d of s.deaneries) {
              const key = `${d.deanery}:${d.stage}:${d.alerts}`;
              if (reported.has(key)) continue;
              reported.add(key);
              if (d.stage === 'done') {
                bar.tick();
                if (!json) for (const f of d.files) print(`${runDate} ${d.deanery}  ${f.fileName}  sequence ${f.sequence}  ${f.recordCount} record(s)${f.skipped.length ? `, ${f.skipped.length} skipped` : ''}`);
              } else if (d.stage === 'failing' && !json) {
                print(`${runDate} ${d.deanery}  failing (alert raised): ${d.lastFailure ?? ''}; the run will come back to it`);
              }
            }
          },
        });
        all.push(...filesOf(status));
      }
    });
  } finally {
    bar.stop();
  }
  if (json) printJson(all);
}

export function registerEsrCommands(program: Command): void {
  const esr = program.command('esr').description('daily ESR app files: runs and backfills, one generation at a time through the lane');
  esr
    .command('run')
    .description("make one day's app files through the lane (safe to repeat: a deanery with nothing new due keeps the files already made); waits for the outcome")
    .requiredOption('--date <YYYY-MM-DD>', 'the run date')
    .option('--deanery <codes...>', `deaneries (default all 13: ${DEANERIES.join(' ')})`)
    .option('--json', 'print each file as { runDate, deanery, fileName, sequence, recordCount, skipped }')
    .action(async (opts: { date: string; deanery?: string[]; json?: boolean }) => {
      await runDays([parseDate('--date', opts.date)], parseDeaneries(opts.deanery), opts.json === true);
    });
  esr
    .command('backfill')
    .description('make the app files of a range of days, one day after another through the lane, with progress per deanery')
    .requiredOption('--from <YYYY-MM-DD>', 'first run date')
    .requiredOption('--to <YYYY-MM-DD>', 'last run date (inclusive)')
    .option('--deanery <codes...>', 'deaneries (default all 13)')
    .option('--json', 'print each file as { runDate, deanery, fileName, sequence, recordCount, skipped }')
    .action(async (opts: { from: string; to: string; deanery?: string[]; json?: boolean }) => {
      const from = parseDate('--from', opts.from);
      const to = parseDate('--to', opts.to);
      if (from > to) throw new UsageError(`--from ${from} is after --to ${to}`);
      const days = daysBetween(from, to);
      if (days.length > 366) throw new UsageError(`${days.length} days is more than a year: split the backfill`);
      await runDays(days, parseDeaneries(opts.deanery), opts.json === true);
    });

  const schedule = program
    .command('schedule')
    .description(`the daily ESR schedule (${ESR_SCHEDULE_ID}, 13:00 UTC), or with --reconciliation the CoJ reconciliation; every subcommand first creates or updates the project's schedules, keeping a pause`);
  const scheduleAction = (name: string, description: string, act: (client: Client, scheduleId: string) => Promise<string>): void => {
    schedule
      .command(name)
      .description(description)
      .option('--reconciliation', `the CoJ reconciliation schedule (${SCHEDULE_IDS.cojReconciliation}) instead of the daily ESR one`)
      .option('--json', 'print the schedule as JSON')
      .action(async (opts: { json?: boolean; reconciliation?: boolean }) => {
        await withClient(async (client) => {
          const scheduleId = opts.reconciliation ? SCHEDULE_IDS.cojReconciliation : ESR_SCHEDULE_ID;
          const ensured = (await ensureSchedules(client, config())).find((e) => e.scheduleId === scheduleId)?.outcome;
          const said = await act(client, scheduleId);
          const summary = summariseSchedule(await client.schedule.getHandle(scheduleId).describe());
          if (opts.json) return printJson({ ...summary, ensured });
          if (ensured === 'created') print(`created schedule ${scheduleId}`);
          if (said) print(said);
          print(`${summary.scheduleId}: ${summary.paused ? `PAUSED${summary.note ? ` (${summary.note})` : ''}` : 'active'}; cron ${summary.cron.join(', ')} UTC; overlap ${summary.overlap}; catch-up window ${summary.catchupWindowMs / 86_400_000} day(s)`);
          print(`  next: ${summary.nextActionTimes.slice(0, 3).join(', ') || '(none)'}`);
          for (const a of summary.recentActions.slice(-5)) print(`  ran:  ${a.scheduledAt} -> ${a.workflowId}`);
          if (summary.runningWorkflows.length) print(`  running: ${summary.runningWorkflows.join(', ')}`);
        });
      });
  };
  scheduleAction('describe', 'show the schedule: paused or not, next and recent runs', async () => '');
  scheduleAction('pause', 'pause the schedule (kept across updates until unpaused)', async (client, scheduleId) => {
    await setSchedulePaused(client.schedule.getHandle(scheduleId), true, `paused with tisw by ${process.env.USER ?? 'an operator'}`);
    return 'paused';
  });
  scheduleAction('unpause', 'resume the schedule', async (client, scheduleId) => {
    await setSchedulePaused(client.schedule.getHandle(scheduleId), false, 'unpaused with tisw');
    return 'unpaused';
  });
  scheduleAction('trigger', "take the schedule's action now (ESR: run date today, UTC, queued in the lane; reconciliation: a pass now)", async (client, scheduleId) => {
    await client.schedule.getHandle(scheduleId).trigger(ScheduleOverlapPolicy.ALLOW_ALL);
    return 'triggered';
  });

  // `tisw bench esr`, beside the other benchmarks when the program has them.
  const bench = program.commands.find((c) => c.name() === 'bench') ?? program.command('bench').description('benchmarks');
  bench
    .command('esr')
    .description('one ESR day (13 deaneries x R due records) through Temporal and straight to the exporter, with the floor, on throwaway servers')
    .option('--records <n>', 'due records per deanery', (v) => {
      if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`--records must be a whole number of at least 1; got "${v}"`);
      return Number(v);
    }, 200)
    .option('--json', 'print the figures as JSON')
    .action(async (opts: { records: number; json?: boolean }) => {
      const cfg = config();
      quietRuntime(cfg);
      const figures = await runEsrBench(cfg, { recordsPerDeanery: opts.records, progress: !opts.json && process.stderr.isTTY });
      if (opts.json) printJson(figures);
      else printEsrBench(figures, print);
    });

  esr
    .command('exporter')
    .description('run the reference ESR data exporter alone (consumes app-file commands, writes files to TISW_ESR_FILES_DIR) until Ctrl-C')
    .action(async () => {
      const cfg = config();
      const log = createLogger(cfg, 'tisw-esr-exporter');
      const exporter = await startEsrReceiver(cfg, log);
      await exporter.ready;
      log.info({ filesDir: cfg.esr.filesDir }, 'ESR data exporter running');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await exporter.stop();
    });
}
