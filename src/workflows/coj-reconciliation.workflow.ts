/**
 * Started by a Temporal Schedule (every 2 minutes by default): catches any signed CoJ that never got a
 * submission workflow (design.md guarantee 1). The work is one activity; the workflow gives it retries
 * and a place in the UI.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { ReconciliationActivities, ReconciliationResult } from '../activities/reconciliation.activities';

const { reconcileCojs } = proxyActivities<ReconciliationActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', maximumInterval: '1 minute', maximumAttempts: 5 },
});

export async function cojReconciliationWorkflow(input: { olderThanMs: number }): Promise<ReconciliationResult> {
  return reconcileCojs(input);
}
