/** `tisw schedule describe|pause|unpause|trigger [--reconciliation]`: the project's two schedules. */
import type { Command } from 'commander';
import { changeSchedule, SCHEDULE_IDS, type ScheduleChange } from '../client/schedules';
import { print, printJson, withClient } from './output';

const CHANGES: Array<[ScheduleChange, string]> = [
  ['describe', 'show the schedule: paused or not, next and recent runs'],
  ['pause', 'pause the schedule (kept across updates until unpaused)'],
  ['unpause', 'resume the schedule'],
  ['trigger', "take the schedule's action now (ESR: run date today, UTC, queued in the lane; reconciliation: a pass now)"],
];

export function registerScheduleCommands(program: Command): void {
  const schedule = program
    .command('schedule')
    .description(`the daily ESR schedule (${SCHEDULE_IDS.esrDaily}, 13:00 UTC), or with --reconciliation the CoJ reconciliation; every subcommand first creates or updates the project's schedules, keeping a pause`);
  for (const [change, description] of CHANGES) {
    schedule
      .command(change)
      .description(description)
      .option('--reconciliation', `the CoJ reconciliation schedule (${SCHEDULE_IDS.cojReconciliation}) instead of the daily ESR one`)
      .option('--json', 'print the schedule as JSON')
      .action(async (opts: { json?: boolean; reconciliation?: boolean }) => {
        await withClient(async (client, cfg) => {
          const scheduleId = opts.reconciliation ? SCHEDULE_IDS.cojReconciliation : SCHEDULE_IDS.esrDaily;
          const summary = await changeSchedule(client, cfg, scheduleId, change, process.env.USER);
          if (opts.json) return printJson(summary);
          if (summary.ensured === 'created') print(`created schedule ${scheduleId}`);
          if (change !== 'describe') print(change === 'trigger' ? 'triggered' : `${change}d`);
          print(`${summary.scheduleId}: ${summary.paused ? `PAUSED${summary.note ? ` (${summary.note})` : ''}` : 'active'}; cron ${summary.cron.join(', ')} UTC; overlap ${summary.overlap}; catch-up window ${summary.catchupWindowMs / 86_400_000} day(s)`);
          print(`  next: ${summary.nextActionTimes.slice(0, 3).join(', ') || '(none)'}`);
          for (const a of summary.recentActions.slice(-5)) print(`  ran:  ${a.scheduledAt} -> ${a.workflowId}`);
          if (summary.runningWorkflows.length) print(`  running: ${summary.runningWorkflows.join(', ')}`);
        });
      });
  }
}
