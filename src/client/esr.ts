/**
 * The ESR client API: one day's app files or a range of days, always through the one lane
 * (esrRequestWorkflow signals esrLaneWorkflow), so a re-run or backfill started while the scheduled run
 * is going waits its turn. Functions return data; `tisw esr` (src/cli/esr.ts) prints it.
 */
import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Config } from '../config/config';
import { esrRequestWorkflowId, esrRunRequestProblems, esrRunStatusQuery, esrRunWorkflowId, type Deanery, type EsrAcknowledgementMode, type EsrRunStatus, type EsrTimings } from '../shared/esr';
import { isRunDate } from '../shared/dates';
import { InvalidInputError } from '../shared/errors';
import { esrRequestWorkflow } from '../workflows/esr-run.workflow';

/**
 * Where and how ESR runs start, from the configuration: the task queue, what acknowledges a command
 * (ESR_ACKNOWLEDGEMENT) and, observed, how often the run reads the exporter's store (ESR_OBSERVE_SECONDS).
 * They travel in each request, so a run keeps the mode it started with whatever a worker's settings are later.
 */
export interface EsrSettings {
  taskQueue: string;
  acknowledgement: EsrAcknowledgementMode;
  timings: Partial<EsrTimings>;
}

export function esrSettings(config: Config): EsrSettings {
  return { taskQueue: config.temporal.taskQueue, acknowledgement: config.esr.acknowledgement, timings: { observeIntervalMs: config.esr.observeIntervalMs } };
}

export interface EsrRunOptions {
  runDate: string;
  deaneries: Deanery[];
  timings?: Partial<EsrTimings>;
  /** Absent: reply (esrAcknowledgementOf); esrSettings gives the configured one. */
  acknowledgement?: EsrAcknowledgementMode;
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
export function checkEsrRunRequest(options: Pick<EsrRunOptions, 'runDate' | 'deaneries' | 'timings' | 'acknowledgement'>): void {
  const problems = esrRunRequestProblems(options);
  if (problems.length > 0) throw new InvalidInputError(`invalid ESR run request: ${problems.join('; ')}`);
}

/** Asks the lane for one day's files; the request workflow's handle, whose result is the run's outcome. */
export async function startEsrRequest(
  client: Client,
  options: Omit<EsrRunOptions, 'onStatus' | 'pollMs'>,
): Promise<{ requestId: string; handle: WorkflowHandle<typeof esrRequestWorkflow> }> {
  checkEsrRunRequest(options);
  const requestId = `cli-${options.runDate}-${randomUUID().slice(0, 8)}`;
  const handle = await client.workflow.start(esrRequestWorkflow, {
    taskQueue: options.taskQueue,
    workflowId: esrRequestWorkflowId(requestId),
    args: [
      {
        requestId,
        runDate: options.runDate,
        deaneries: options.deaneries,
        ...(options.timings && { timings: options.timings }),
        ...(options.acknowledgement && { acknowledgement: options.acknowledgement }),
      },
    ],
  });
  return { requestId, handle };
}

/** Asks the lane for one day's files and waits for the outcome, reporting progress on the way. */
export async function requestEsrRun(client: Client, options: EsrRunOptions): Promise<EsrRunStatus> {
  const { requestId, handle } = await startEsrRequest(client, options);
  const result = handle.result();
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

/** One file made by a run, as `tisw esr run --json` prints them. */
export interface EsrFile {
  runDate: string;
  deanery: string;
  fileName: string;
  sequence: number;
  recordCount: number;
  skipped: number;
}

/** Each file of the run. */
export function filesOf(status: EsrRunStatus): EsrFile[] {
  return status.deaneries.flatMap((d) =>
    d.files.map((f) => ({ runDate: status.runDate, deanery: d.deanery, fileName: f.fileName, sequence: f.sequence, recordCount: f.recordCount, skipped: f.skipped.length })),
  );
}

/** A backfill longer than this is refused: split it (a year of days is 4,745 generations). */
export const MAX_BACKFILL_DAYS = 366;

/** The days from `from` to `to`, inclusive. */
export function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000) days.push(new Date(t).toISOString().slice(0, 10));
  return days;
}

export interface EsrBackfillOptions extends Omit<EsrRunOptions, 'runDate'> {
  from: string;
  to: string;
}

/**
 * The app files of a range of days, one day after another through the lane (each day waits for the one
 * before); every file made, in order. `onStatus` sees each day's run as it goes.
 */
export async function backfillEsr(client: Client, options: EsrBackfillOptions): Promise<EsrFile[]> {
  const { from, to, ...run } = options;
  const days = backfillDays(from, to);
  const files: EsrFile[] = [];
  for (const runDate of days) files.push(...filesOf(await requestEsrRun(client, { ...run, runDate })));
  return files;
}

/** The days of a backfill, checked: real dates, in order, at most MAX_BACKFILL_DAYS. */
export function backfillDays(from: string, to: string): string[] {
  for (const [name, value] of [['from', from], ['to', to]] as const) {
    if (!isRunDate(value)) throw new InvalidInputError(`${name} must be a real date YYYY-MM-DD; got "${value}"`);
  }
  if (from > to) throw new InvalidInputError(`from ${from} is after to ${to}`);
  const days = daysBetween(from, to);
  if (days.length > MAX_BACKFILL_DAYS) throw new InvalidInputError(`${days.length} days is more than a year: split the backfill`);
  return days;
}
