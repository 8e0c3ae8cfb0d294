/**
 * The sync watcher (synced mode): one workflow for the whole cluster (a fixed id, started by every worker
 * if it is not running, like the system monitor), so that TSS's store is read once per interval however
 * many workers and CoJs there are, and the watch moves to another worker when its worker dies. Each round
 * is one activity (watchCojSync: the waiting runs, their profiles, a signal to each one synced); between
 * rounds, a timer. A failed round is logged by the activity's retries and the next one comes anyway: a
 * CoJ missed in one round is seen in the next, and its run resends meanwhile.
 */
import { continueAsNew, log, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { CojSyncActivities } from '../activities/coj-sync.activities';
import type { CojSyncWatcherSettings } from '../shared/coj';

const { watchCojSync } = proxyActivities<CojSyncActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 2 },
});

export async function cojSyncWatcherWorkflow(settings: CojSyncWatcherSettings): Promise<void> {
  for (;;) {
    await watchCojSync().catch((err: unknown) => log.warn('a sync-watch round failed; the next one comes', { error: (err as Error).message }));
    await sleep(settings.intervalMs);
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 2000) await continueAsNew<typeof cojSyncWatcherWorkflow>(settings);
  }
}
