/**
 * All activities, built once per worker process around the dependencies it opened (AMQP, MongoDB, a
 * Temporal client, the alerter): activities never open connections per call.
 */
import { createAlertActivities } from './alert.activities';
import { createCojActivities, type CojDeps } from './coj.activities';
import { createEsrActivities, type EsrDeps } from './esr.activities';
import { createFloorActivities } from './floor.activities';
import { createProbeActivities, type ProbeDeps } from './probe.activities';
import { createReconciliationActivities, type ReconciliationDeps } from './reconciliation.activities';
import { createMonitorActivities, type MonitorDeps } from './monitor.activities';
import { createCojSyncActivities, type CojSyncDeps } from './coj-sync.activities';

export type ActivityDeps = ProbeDeps & CojDeps & ReconciliationDeps & MonitorDeps & EsrDeps & CojSyncDeps;

export function createActivities(deps: ActivityDeps) {
  return {
    ...createProbeActivities(deps),
    ...createFloorActivities(),
    ...createAlertActivities(deps.alerter),
    ...createCojActivities(deps),
    ...createReconciliationActivities(deps),
    ...createMonitorActivities(deps),
    ...createCojSyncActivities(deps),
    ...createEsrActivities(deps),
  };
}
