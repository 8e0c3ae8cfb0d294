/**
 * All activities, built once per worker process around the dependencies it opened (AMQP, MongoDB):
 * activities never open connections per call.
 */
import { createFloorActivities } from './floor.activities';
import { createProbeActivities, type ProbeDeps } from './probe.activities';

export type ActivityDeps = ProbeDeps;

export function createActivities(deps: ActivityDeps) {
  return {
    ...createProbeActivities(deps),
    ...createFloorActivities(),
  };
}
