/**
 * The floor: the least a workflow can cost on these servers. `tisw bench floor` measures these, and the
 * CoJ and ESR benchmarks report themselves as ratios to them.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { FloorActivities } from '../activities/floor.activities';

const { floorEcho } = proxyActivities<FloorActivities>({ startToCloseTimeout: '10 seconds' });

/** One activity that does no work: the cost of scheduling, dispatching and completing an activity. */
export async function floorOneActivityWorkflow(n: number): Promise<number> {
  return floorEcho(n);
}

/** No activity at all: the dev server's and the worker's own cost of a workflow. */
export async function floorNoActivityWorkflow(n: number): Promise<number> {
  return Promise.resolve(n);
}
