/**
 * All activities, built once per worker process around the dependencies it opened (AMQP, MongoDB):
 * activities never open connections per call.
 */
import { createEsrActivities, type EsrDeps } from './esr.activities';
import { createFloorActivities } from './floor.activities';
import { createProbeActivities, type ProbeDeps } from './probe.activities';

export type ActivityDeps = ProbeDeps & EsrDeps;

export function createActivities(deps: ActivityDeps) {
  return {
    ...createProbeActivities(deps),
    ...createFloorActivities(),
    ...createEsrActivities(deps),
  };
}
