/**
 * The project's two Temporal Schedules (the daily ESR app files and the CoJ reconciliation): their
 * definitions, and their upkeep. Created or updated idempotently at every worker start and by `tisw up`:
 * never duplicated, and an operator's pause is kept (only the spec, action and policies are updated).
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleDescription, type ScheduleHandle, type ScheduleOptions } from '@temporalio/client';
import type { Config } from '../config/config';
import { ESR_SCHEDULE_ID, ESR_SCHEDULED_WORKFLOW_ID, type EsrRequestInput } from '../shared/esr';
import { waitFor } from '../shared/poll';
import { esrSettings, type EsrSettings } from './esr';
import { esrRequestWorkflow } from '../workflows/esr-run.workflow';
import { cojReconciliationWorkflow } from '../workflows/coj-reconciliation.workflow';

export const SCHEDULE_IDS = { cojReconciliation: 'tisw-coj-reconciliation', esrDaily: ESR_SCHEDULE_ID } as const;
export type ScheduleId = (typeof SCHEDULE_IDS)[keyof typeof SCHEDULE_IDS];

/**
 * 13:00 UTC daily, as TIS's cron job ran. Overlap ALLOW_ALL: the lane, not the Schedule, keeps one
 * generation at a time, and a day that is still retrying a failing deanery must not hold back (or, with
 * SKIP, lose) the next day's request: it queues in the lane, visibly. Catch-up window 7 days: after an
 * outage of up to a week each missed day still gets its run, with its own run date (taken from the
 * scheduled time, see esrRequestWorkflow); beyond that, `tisw esr backfill`.
 */
const ESR_CRON = '0 13 * * *';

/** The schedule's action carries the acknowledgement mode and timings of the settings it was made from. */
export function esrScheduleDefinition({ taskQueue, acknowledgement, timings }: EsrSettings): ScheduleOptions {
  return {
    scheduleId: SCHEDULE_IDS.esrDaily,
    spec: { cronExpressions: [ESR_CRON] },
    action: {
      type: 'startWorkflow',
      workflowType: esrRequestWorkflow,
      workflowId: ESR_SCHEDULED_WORKFLOW_ID,
      taskQueue,
      args: [{ acknowledgement, timings } satisfies EsrRequestInput],
    },
    policies: { overlap: ScheduleOverlapPolicy.ALLOW_ALL, catchupWindow: 7 * 86_400_000, pauseOnFailure: false },
    state: { note: 'daily ESR app files (created by tis-workflows)' },
  };
}

export function cojReconciliationScheduleDefinition(config: Config): ScheduleOptions {
  return {
    scheduleId: SCHEDULE_IDS.cojReconciliation,
    spec: { intervals: [{ every: config.coj.reconcileEveryMs }] },
    action: {
      type: 'startWorkflow',
      workflowType: cojReconciliationWorkflow,
      taskQueue: config.temporal.taskQueue,
      args: [{ olderThanMs: config.coj.reconcileAfterMs }],
      workflowExecutionTimeout: '30 minutes',
    },
    // A run still going when the next is due: skip the next; reconciliation is idempotent.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '10 minutes' },
    state: { note: 'created by tis-workflows: finds signed CoJs that have no submission workflow' },
  };
}

export function scheduleDefinitions(config: Config): ScheduleOptions[] {
  return [cojReconciliationScheduleDefinition(config), esrScheduleDefinition(esrSettings(config))];
}

export async function ensureSchedules(client: Client, config: Config): Promise<Array<{ scheduleId: string; outcome: 'created' | 'updated' }>> {
  const results: Array<{ scheduleId: string; outcome: 'created' | 'updated' }> = [];
  for (const definition of scheduleDefinitions(config)) results.push({ scheduleId: definition.scheduleId, outcome: await ensureSchedule(client, definition) });
  return results;
}

/** Creates one schedule, or updates its spec, action and policies in place (its state: pause and note, kept). */
export async function ensureSchedule(client: Client, definition: ScheduleOptions): Promise<'created' | 'updated'> {
  try {
    await client.schedule.create(definition);
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = client.schedule.getHandle(definition.scheduleId);
  let pausedBefore: { note: string } | undefined;
  let tokenBefore: Uint8Array | null | undefined;
  try {
    await handle.update((previous) => {
      if (previous.state.paused) pausedBefore = { note: previous.state.note ?? 'paused' };
      tokenBefore = previous.raw.conflictToken;
      return {
        ...previous,
        spec: definition.spec,
        action: definition.action as typeof previous.action,
        policies: { ...previous.policies, ...definition.policies },
        // previous.state carries an operator's pause and note
      };
    });
  } catch (err) {
    // The schedule's arguments were written by a process with payload encryption that this one cannot
    // read: say what to do instead of the converter's "Unknown encoding".
    if (/Unknown encoding: binary\/encrypted|encrypted with key/.test(String((err as Error).message))) {
      throw new Error(`schedule ${definition.scheduleId} was written with payload encryption under another TISW_PAYLOAD_KEY (or none here): give this process the workers' key, or delete the schedule to recreate it`);
    }
    throw err;
  }
  // The server's scheduler takes an update and a pause as signals, and when both wait in one workflow
  // task it applies the pause first and then the update, whose state (read before the pause) unpauses
  // it. Returning only once the update is in (its conflict token moved on) keeps a pause that follows
  // from this process, e.g. `tisw schedule pause`, from being undone.
  await waitFor(`the server to take the update of schedule ${definition.scheduleId}`, async () => !sameToken((await handle.describe()).raw.conflictToken, tokenBefore), SCHEDULE_CHANGE_WAIT_MS);
  // Another process's pause can still meet this update in one task: put it back, with its note.
  if (pausedBefore && !(await handle.describe()).state.paused) await setSchedulePaused(handle, true, pausedBefore.note);
  return 'updated';
}

/**
 * Pauses or unpauses a schedule and returns once the server shows it so. The scheduler may lose a
 * pause to an update that was waiting beside it (see ensureSchedule), so the change is sent again
 * until it shows, for at most SCHEDULE_CHANGE_WAIT_MS.
 */
export async function setSchedulePaused(handle: ScheduleHandle, paused: boolean, note: string): Promise<void> {
  const shown = async (): Promise<boolean> => (await handle.describe()).state.paused === paused;
  for (let sent = 0; sent < SCHEDULE_CHANGE_WAIT_MS / RESEND_AFTER_MS; sent++) {
    await (paused ? handle.pause(note) : handle.unpause(note));
    if (await waitFor(`schedule ${handle.scheduleId} to show the change`, shown, RESEND_AFTER_MS).then(() => true, () => false)) return;
  }
  throw new Error(`schedule ${handle.scheduleId}: the server did not show it ${paused ? 'paused' : 'unpaused'} within ${SCHEDULE_CHANGE_WAIT_MS / 1000} s; run the command again, and check the Temporal server if it persists`);
}

const SCHEDULE_CHANGE_WAIT_MS = 10_000;
/** A pause or unpause not shown by then is sent again. */
const RESEND_AFTER_MS = 1_000;

function sameToken(a: Uint8Array | null | undefined, b: Uint8Array | null | undefined): boolean {
  return Buffer.from(a ?? []).equals(Buffer.from(b ?? []));
}

/** Creates the daily ESR schedule, or brings an existing one up to date keeping its paused state and note. */
export function ensureEsrSchedule(client: Client, settings: EsrSettings): Promise<'created' | 'updated'> {
  return ensureSchedule(client, esrScheduleDefinition(settings));
}

/** A schedule as `tisw schedule` prints it (and its --json). */
export interface ScheduleSummary {
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

export function summariseSchedule(d: ScheduleDescription): ScheduleSummary {
  return {
    scheduleId: d.scheduleId,
    paused: d.state.paused,
    note: d.state.note ?? null,
    cron: [
      // The server describes a cron spec as calendar entries; the expression reads better.
      ...(d.scheduleId === SCHEDULE_IDS.esrDaily ? [ESR_CRON] : []),
      ...(d.spec.intervals ?? []).map((i) => `every ${Math.round(Number(i.every) / 60_000)} min`),
    ],
    overlap: String(d.policies.overlap),
    catchupWindowMs: d.policies.catchupWindow,
    nextActionTimes: d.info.nextActionTimes.map((t) => t.toISOString()),
    recentActions: d.info.recentActions.map((a) => ({ scheduledAt: a.scheduledAt.toISOString(), takenAt: a.takenAt.toISOString(), workflowId: a.action.workflow.workflowId ?? '' })),
    runningWorkflows: d.info.runningActions.map((a) => a.workflow.workflowId),
  };
}

export type ScheduleChange = 'describe' | 'pause' | 'unpause' | 'trigger';

/**
 * What `tisw schedule <change>` does, as an API: first creates or updates the project's schedules
 * (keeping a pause), then makes the change, and returns the schedule as it now is.
 */
export async function changeSchedule(client: Client, config: Config, scheduleId: ScheduleId, change: ScheduleChange, by = 'an operator'): Promise<ScheduleSummary & { ensured: 'created' | 'updated' | undefined }> {
  const ensured = (await ensureSchedules(client, config)).find((e) => e.scheduleId === scheduleId)?.outcome;
  const handle = client.schedule.getHandle(scheduleId);
  if (change === 'pause') await setSchedulePaused(handle, true, `paused with tisw by ${by}`);
  if (change === 'unpause') await setSchedulePaused(handle, false, 'unpaused with tisw');
  if (change === 'trigger') await handle.trigger(ScheduleOverlapPolicy.ALLOW_ALL);
  return { ...summariseSchedule(await handle.describe()), ensured };
}
