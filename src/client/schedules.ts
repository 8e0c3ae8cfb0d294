/**
 * The project's Temporal Schedules, created or updated idempotently at every worker start and by
 * `tisw up`: never duplicated, and an operator's pause is kept (only the spec and action are updated).
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import type { Config } from '../config/config';
import { ESR_SCHEDULE_ID } from '../shared/contract';
import { esrScheduleDefinition } from './esr';

export const SCHEDULE_IDS = { cojReconciliation: 'tisw-coj-reconciliation', esrDaily: ESR_SCHEDULE_ID } as const;

export function scheduleDefinitions(config: Config): ScheduleOptions[] {
  return [
    {
      scheduleId: SCHEDULE_IDS.cojReconciliation,
      spec: { intervals: [{ every: config.coj.reconcileEveryMs }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'cojReconciliationWorkflow',
        taskQueue: config.temporal.taskQueue,
        args: [{ olderThanMs: config.coj.reconcileAfterMs }],
        workflowExecutionTimeout: '30 minutes',
      },
      // A run still going when the next is due: skip the next; reconciliation is idempotent.
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '10 minutes' },
      state: { note: 'created by tis-workflows: finds signed CoJs that have no submission workflow' },
    },
    esrScheduleDefinition(config.temporal.taskQueue),
  ];
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
  await handle.update((previous) => {
    if (previous.state.paused) pausedBefore = { note: previous.state.note ?? 'paused' };
    return {
      ...previous,
      spec: definition.spec,
      action: definition.action as typeof previous.action,
      policies: { ...previous.policies, ...definition.policies },
      // previous.state carries an operator's pause and note
    };
  });
  // Seen here: the server sometimes comes out of an update unpaused although the update said paused.
  // An operator's pause must survive a worker's start, so it is put back, with its note.
  if (pausedBefore && !(await handle.describe()).state.paused) await handle.pause(pausedBefore.note);
  return 'updated';
}
