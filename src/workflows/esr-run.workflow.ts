/**
 * Daily ESR app files, in three workflows:
 *
 * - esrRunWorkflow: one day's files. The deaneries strictly one after another; per deanery: publish the
 *   command, wait for its acknowledgement up to the resend wait, publish again with backoff; then check
 *   that no due TO_EXPORT record is left (else a new command, a new file). The acknowledgement is, on the
 *   reply contract, the exporter's reply (a signal), followed by the check; `observed` (TIS's exporter
 *   sends no reply), the command's file recorded in the exporter's store, read with the check in one
 *   poll, 0.5 s after the publish and then at doubling intervals up to observeIntervalMs. A deanery that keeps failing raises an alert naming it and the reason;
 *   the run moves on and comes back to it after a pause, and ends only when every deanery has its file.
 *
 * - esrLaneWorkflow: THE ONE LANE. A single long-lived workflow with a fixed id (ESR_LANE_WORKFLOW_ID)
 *   takes run requests by signal, queues them in arrival order and runs each as a child esrRunWorkflow,
 *   awaiting it before starting the next; it continues as new (carrying its queue) to keep its history
 *   short. Why this design: Temporal itself guarantees at most one open execution per workflow id in a
 *   namespace, whichever worker of a cluster runs it, so "one lane" needs no lock of ours, no lease that
 *   can expire under a slow worker, and no database (FerretDB has no transactions). Scheduled runs,
 *   backfills and re-runs all enter by the same door, so at most one generation is ever in flight and the
 *   shared file-sequence counter is never updated concurrently. The queue is visible (esrLaneStatusQuery).
 *
 * - esrRequestWorkflow: the door. The Schedule and the CLI start one per request; it signals the lane
 *   (starting it if it is not running), waits for the lane to report the outcome, and returns it. A
 *   scheduled request takes its run date from the time it was scheduled for, so catch-up and backfilled
 *   actions get their own day.
 */
import {
  continueAsNew,
  executeChild,
  getExternalWorkflowHandle,
  ParentClosePolicy,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { EsrActivities } from '../activities/esr.activities';
import { acknowledgementSignal, type Acknowledgement } from '../shared/amqp';
import { appFileCommandId, DEANERIES, DEFAULT_ESR_TIMINGS, esrAcknowledgementOf, esrRunRequestProblems, ESR_LANE_WORKFLOW_ID, esrLaneStatusQuery, esrRunFinishedSignal, esrRunRequestSignal, esrRunStatusQuery, esrRunWorkflowId, type AppFileCommand, type AppFileReply, type Deanery, type EsrAcknowledgementMode, type EsrDeaneryStage, type EsrDeaneryStatus, type EsrLaneState, type EsrRequestInput, type EsrRunOutcome, type EsrRunRequest, type EsrRunStatus, type EsrTimings, type ObservedAppFile } from '../shared/esr';
import { SEARCH_ATTRIBUTES } from '../shared/temporal';
import { EsrRunFailedError, InvalidInputError } from '../shared/errors';
import { waitForSignal } from './wait';

const { publishAppFileCommand, remainingDueRecords, raiseEsrDeaneryAlert } = proxyActivities<EsrActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '20 seconds', maximumAttempts: 5 },
});

/**
 * `observed` mode's poll of the exporter's store: a read by commandId and a count, milliseconds, so a local
 * activity (no server round trip per poll, one marker in the history). Not retried: the next poll is the retry.
 */
const { observeAppFile } = proxyLocalActivities<EsrActivities>({ startToCloseTimeout: '10 seconds', retry: { maximumAttempts: 1 } });

/** First wait before publishing again a command the broker did not take; doubles up to the resend wait. */
const ESR_PUBLISH_RETRY_INITIAL_MS = 1000;

/**
 * The client API checks a request before it starts anything; this is the same check (one in src/shared),
 * for a run started some other way. Returns the deaneries in TIS's order, each once.
 */
function checkRequest(runDate: string, deaneries: readonly string[], timings: EsrTimings, acknowledgement: EsrAcknowledgementMode | undefined): Deanery[] {
  const problems = esrRunRequestProblems({ runDate, deaneries, timings, acknowledgement });
  if (problems.length > 0) throw InvalidInputError.failure(`invalid ESR run request: ${problems.join('; ')}`);
  return DEANERIES.filter((d) => deaneries.includes(d));
}

/** `observed` mode: the first read of the exporter's store after a publish. */
const FIRST_OBSERVE_MS = 500;

const message = (err: unknown): string => (err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err));

// -------------------------------------------------------------------------------------------------
// One day's files

export async function esrRunWorkflow(request: EsrRunRequest): Promise<EsrRunStatus> {
  const timings = { ...DEFAULT_ESR_TIMINGS, ...request.timings };
  const deaneries = checkRequest(request.runDate, request.deaneries, timings, request.acknowledgement);
  const acknowledgement = esrAcknowledgementOf(request);
  const { runDate } = request;
  const self = workflowInfo().workflowId;

  const status: EsrRunStatus = request.resume ?? {
    requestId: request.requestId,
    runDate,
    acknowledgement,
    stage: 'running',
    deaneries: deaneries.map((deanery) => ({ deanery, stage: 'pending', pass: 1, attempts: 0, lastFailure: null, alerts: 0, files: [] })),
  };
  const acks = new Map<string, Acknowledgement>();
  const observed = new Map<string, ObservedAppFile>();
  let awaiting = '';
  setHandler(acknowledgementSignal, (ack) => {
    // A rejection may carry no commandId: it answers the command being waited for. Late and duplicate acks are harmless.
    const commandId = typeof ack.result.commandId === 'string' ? ack.result.commandId : awaiting;
    if (commandId && !acks.has(commandId)) acks.set(commandId, ack);
  });
  setHandler(esrRunStatusQuery, () => status);

  const show = (d: EsrDeaneryStatus, stage: EsrDeaneryStage): void => {
    d.stage = stage;
    upsertSearchAttributes([
      { key: SEARCH_ATTRIBUTES.deanery, value: d.deanery },
      { key: SEARCH_ATTRIBUTES.stage, value: stage },
    ]);
  };
  upsertSearchAttributes([
    { key: SEARCH_ATTRIBUTES.runDate, value: runDate },
    { key: SEARCH_ATTRIBUTES.stage, value: 'running' },
  ]);

  const arrived = (commandId: string): boolean => (acknowledgement === 'reply' ? acks.has(commandId) : observed.has(commandId));
  /** Why the last read of the exporter's store in the current wait failed, if it did. */
  let readFailure: string | undefined;

  /**
   * `observed` mode's wait: reads the exporter's store (0.5 s, then doubling up to observeIntervalMs), for
   * up to `ms`; true once the command's file is there. A read that fails is shown as the deanery's last failure, and the next read
   * tries again.
   */
  const observe = async (d: EsrDeaneryStatus, command: AppFileCommand, ms: number): Promise<boolean> => {
    readFailure = undefined;
    // The first reads come sooner (0.5 s doubling up to the interval): a file usually takes about a
    // second, and 13 deaneries one after another should not each wait a whole interval for it.
    let interval = Math.min(FIRST_OBSERVE_MS, timings.observeIntervalMs);
    for (let waited = 0; waited < ms; interval = Math.min(interval * 2, timings.observeIntervalMs)) {
      const pause = Math.min(interval, ms - waited);
      await sleep(pause);
      waited += pause;
      try {
        const seen = await observeAppFile(command);
        if (seen) {
          observed.set(command.commandId, seen);
          return true;
        }
      } catch (err) {
        readFailure = `reading the exporter's store failed: ${message(err)}`;
        d.lastFailure = readFailure;
      }
    }
    return false;
  };

  /** Waits up to `ms` for the command's acknowledgement; true once it is in. */
  const awaitAcknowledgement = (d: EsrDeaneryStatus, command: AppFileCommand, ms: number): Promise<boolean> =>
    acknowledgement === 'reply' ? waitForSignal(() => arrived(command.commandId), ms) : observe(d, command, ms);

  const unacknowledged = (commandId: string, ms: number, attempt: number): string =>
    acknowledgement === 'reply'
      ? `no acknowledgement from the exporter within ${ms} ms (attempt ${attempt})`
      : `no acknowledgement: no file recorded in the exporter's store for ${commandId} within ${ms} ms (attempt ${attempt})${readFailure ? `; ${readFailure}` : ''}`;

  /**
   * Publishes the command until acknowledged, at most attemptsPerRound times; true once acknowledged.
   * A publish the broker did not take (down, or blocking publishers) is not one of those attempts: nothing
   * reached the exporter, so nothing can come back. It is tried again soon (1 s doubling, at most the resend
   * wait), so that the run goes on within seconds of the broker's return, not a resend wait later, and a broker
   * outage does not use up the round and send the deanery to the 10-minute round pause.
   */
  const acknowledged = async (d: EsrDeaneryStatus, commandId: string): Promise<boolean> => {
    awaiting = commandId;
    const command: AppFileCommand = { commandId, deanery: d.deanery, runDate };
    let wait = timings.resendInitialMs;
    let publishRetryMs = ESR_PUBLISH_RETRY_INITIAL_MS;
    for (let attempt = 1; attempt <= timings.attemptsPerRound && !arrived(commandId); ) {
      show(d, 'publishing');
      d.attempts++;
      try {
        await publishAppFileCommand({ command, correlationId: self, expiresAfterMs: wait, acknowledgement });
      } catch (err) {
        d.lastFailure = `publishing the command failed: ${message(err)}`;
        await waitForSignal(() => arrived(commandId), publishRetryMs);
        publishRetryMs = Math.min(publishRetryMs * 2, wait);
        continue;
      }
      publishRetryMs = ESR_PUBLISH_RETRY_INITIAL_MS;
      show(d, 'awaiting-acknowledgement');
      if (await awaitAcknowledgement(d, command, wait)) break;
      d.lastFailure = unacknowledged(commandId, wait, attempt);
      attempt++;
      wait = Math.min(wait * 2, timings.resendMaxMs);
    }
    return arrived(commandId);
  };

  const failing = async (d: EsrDeaneryStatus, reason: string): Promise<false> => {
    show(d, 'failing');
    d.lastFailure = reason;
    d.alerts++;
    await raiseEsrDeaneryAlert({ runDate, deanery: d.deanery, reason, attempts: d.attempts, workflowId: self });
    return false;
  };

  const recordFile = (d: EsrDeaneryStatus, file: AppFileReply): void => {
    if (!d.files.some((f) => f.commandId === file.commandId)) d.files.push(file);
  };

  /**
   * Records the command's file and returns it with the deanery's due records still left, or says why there
   * is none: observed, the file and the count were read together; on the reply contract, the file is the
   * reply and the records are checked after it.
   */
  const outcomeOf = async (d: EsrDeaneryStatus, commandId: string): Promise<{ file: AppFileReply; left: number } | { problem: string }> => {
    const seen = observed.get(commandId);
    if (seen) {
      recordFile(d, seen.file);
      return { file: seen.file, left: seen.remainingDue };
    }
    const ack = acks.get(commandId);
    if (!ack) return { problem: d.lastFailure ?? 'no acknowledgement' };
    if (ack.status === 'rejected') {
      acks.delete(commandId); // a rejection is not a file: ask again next round
      return { problem: `the exporter rejected command ${commandId}: ${ack.reason}` };
    }
    const file = ack.result as unknown as AppFileReply;
    recordFile(d, file);
    show(d, 'checking');
    try {
      return { file, left: await remainingDueRecords({ deanery: d.deanery, runDate, excludeIds: (file.skipped ?? []).map((s) => s.recordId) }) };
    } catch (err) {
      // The ESR store unreachable for longer than the activity's retries (a database outage): a failing
      // deanery like any other, alerted, and come back to after the pause (the same command, so the same
      // file). Uncaught, this failed the whole run: the day's later deaneries got no file and no alert.
      return { problem: `checking the records still due failed: ${message(err)}` };
    }
  };

  /** One round for one deanery: true once it has its file(s) and nothing due is left. */
  const runDeanery = async (d: EsrDeaneryStatus): Promise<boolean> => {
    for (let passes = 0; passes < timings.maxPasses; passes++) {
      const commandId = appFileCommandId(runDate, d.deanery, d.pass);
      if (!(await acknowledged(d, commandId))) return failing(d, d.lastFailure ?? 'no acknowledgement');
      const outcome = await outcomeOf(d, commandId);
      if ('problem' in outcome) return failing(d, outcome.problem);
      const { file, left } = outcome;
      if (left === 0) {
        show(d, 'done');
        d.lastFailure = null;
        return true;
      }
      d.lastFailure = `${left} due record(s) still TO_EXPORT after ${file.fileName}`;
      d.pass++; // a new command: a new file for what is left
    }
    return failing(d, d.lastFailure ?? 'records still due');
  };

  const pending = (): EsrDeaneryStatus[] => status.deaneries.filter((d) => d.stage !== 'done');
  while (pending().length > 0) {
    for (const d of pending()) await runDeanery(d);
    if (pending().length > 0) {
      status.stage = 'retrying-failed-deaneries';
      upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: status.stage }]);
      await sleep(timings.roundPauseMs);
      // Between rounds nothing is awaited: the next run takes over where this one is, under the same id.
      if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > timings.historyEventsBeforeContinue) {
        await continueAsNew<typeof esrRunWorkflow>({ ...request, resume: status });
      }
    }
  }
  status.stage = 'done';
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: 'done' }]);
  return status;
}

// -------------------------------------------------------------------------------------------------
// The one lane

/** Runs before continuing as new; keeps the history far below Temporal's limits. */
const RUNS_PER_LANE_EXECUTION = 50;

export async function esrLaneWorkflow(state: EsrLaneState = { queued: [], finished: 0, recent: [] }): Promise<never> {
  const queued = [...state.queued];
  const recent = [...state.recent];
  let finished = state.finished;
  let running: EsrRunRequest | null = null;
  setHandler(esrRunRequestSignal, (request) => {
    const known = recent.includes(request.requestId) || running?.requestId === request.requestId || queued.some((q) => q.requestId === request.requestId);
    if (!known) queued.push(request);
  });
  setHandler(esrLaneStatusQuery, () => ({ running, queued, finished }));
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: 'lane' }]);

  for (let runs = 0; ; runs++) {
    if (runs >= RUNS_PER_LANE_EXECUTION || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof esrLaneWorkflow>({ queued, finished, recent: recent.slice(-200) });
    }
    await waitForSignal(() => queued.length > 0);
    const request = queued.shift();
    if (!request) continue;
    running = request;
    let outcome: EsrRunOutcome;
    try {
      const status = await executeChild(esrRunWorkflow, {
        workflowId: esrRunWorkflowId(request),
        args: [request],
        typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.runDate, value: request.runDate }],
      });
      outcome = { requestId: request.requestId, status, error: null };
    } catch (err) {
      outcome = { requestId: request.requestId, status: null, error: message(err) };
    }
    running = null;
    finished++;
    recent.push(request.requestId);
    if (request.notifyWorkflowId) {
      try {
        await getExternalWorkflowHandle(request.notifyWorkflowId).signal(esrRunFinishedSignal, outcome);
      } catch {
        // the requester is gone (terminated, or timed out): nobody to tell
      }
    }
  }
}

// -------------------------------------------------------------------------------------------------
// The door: scheduled runs, `tisw esr run` and `tisw esr backfill`

const SCHEDULED_START_TIME = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

/** The UTC day the Schedule meant this action for (catch-up and backfill included), else the start time's. */
function scheduledRunDate(): string {
  const info = workflowInfo();
  const scheduled = info.typedSearchAttributes.get(SCHEDULED_START_TIME);
  if (scheduled) return new Date(scheduled).toISOString().slice(0, 10);
  const fromId = /(\d{4}-\d{2}-\d{2})T\d{2}:\d{2}:\d{2}Z$/.exec(info.workflowId)?.[1];
  return fromId ?? info.startTime.toISOString().slice(0, 10);
}

export async function esrRequestWorkflow(input: EsrRequestInput = {}): Promise<EsrRunStatus> {
  const info = workflowInfo();
  const runDate = input.runDate ?? scheduledRunDate();
  const timings = { ...DEFAULT_ESR_TIMINGS, ...input.timings };
  const deaneries = checkRequest(runDate, input.deaneries ?? [...DEANERIES], timings, input.acknowledgement);
  const requestId = input.requestId ?? info.workflowId.replace(/^esr-/, '');
  if (!/^[\w.:-]{1,120}$/.test(requestId)) throw InvalidInputError.failure(`requestId must be 1-120 letters, digits, _ . : or -; got "${requestId}"`);
  upsertSearchAttributes([
    { key: SEARCH_ATTRIBUTES.runDate, value: runDate },
    { key: SEARCH_ATTRIBUTES.stage, value: 'queued' },
  ]);

  const request: EsrRunRequest = { requestId, runDate, deaneries, timings, ...(input.acknowledgement && { acknowledgement: input.acknowledgement }), notifyWorkflowId: info.workflowId };
  let outcome: EsrRunOutcome | undefined;
  setHandler(esrRunFinishedSignal, (o) => {
    if (o.requestId === requestId) outcome = o;
  });
  await submitToLane(request);
  await waitForSignal(() => outcome !== undefined);
  if (!outcome?.status) throw EsrRunFailedError.failure(outcome?.error ?? 'the run failed');
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: 'done' }]);
  return outcome.status;
}

/** Signals the lane, starting it first if it is not running (two starters at once: one wins, the other signals). */
async function submitToLane(request: EsrRunRequest): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await getExternalWorkflowHandle(ESR_LANE_WORKFLOW_ID).signal(esrRunRequestSignal, request);
      return;
    } catch {
      // not running: start it with this request queued
    }
    try {
      await startChild(esrLaneWorkflow, {
        workflowId: ESR_LANE_WORKFLOW_ID,
        args: [{ queued: [request], finished: 0, recent: [] }],
        // The lane outlives whoever started it.
        parentClosePolicy: ParentClosePolicy.ABANDON,
      });
      return;
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    await sleep(Math.min(1000 * 2 ** attempt, 30_000));
  }
}
