/**
 * What every role names in Temporal: the task queue and the custom search attributes an operator filters
 * on (in the Temporal UI and `tisw stuck`). Safe to import from workflow code: no I/O, no Node built-ins.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** The task queue tis-workflows' workers poll, unless TEMPORAL_TASK_QUEUE says otherwise. */
export const TASK_QUEUE = 'tis-workflows';

/**
 * The cluster's watchers (the system monitor and the CoJ sync watcher) run on a task queue of their own,
 * which every worker polls beside the cluster's. Why: on the cluster's queue their tasks wait behind the
 * very load they watch, so a backlog (a burst of CoJs resending through a broker outage, a reconciliation's
 * backfill) delayed the monitor's looks, and so its alerts, by seconds, when they matter most.
 */
export const watchersTaskQueue = (taskQueue: string): string => `${taskQueue}-watchers`;

/**
 * Custom search attributes: what an operator filters on in the Temporal UI and in `tisw stuck`.
 * Registered at start-up by ensureSearchAttributes (src/adapters/temporal.ts).
 */
export const SEARCH_ATTRIBUTES = {
  stage: defineSearchAttributeKey('TisStage', SearchAttributeType.KEYWORD),
  programmeMembership: defineSearchAttributeKey('TisProgrammeMembership', SearchAttributeType.KEYWORD),
  trainee: defineSearchAttributeKey('TisTrainee', SearchAttributeType.KEYWORD),
  deanery: defineSearchAttributeKey('TisDeanery', SearchAttributeType.KEYWORD),
  runDate: defineSearchAttributeKey('TisRunDate', SearchAttributeType.KEYWORD),
} as const;

/**
 * A `tisw worker`'s identity in Temporal, as its pollers show it (`tisw health`, the Temporal UI's workers
 * tab): `tisw-worker@<host>:<pid>`, then ` metrics=<port>` when it serves /metrics. The port is in the
 * identity because several workers on one host take consecutive ports (metrics-server.ts) and the poller
 * list is the one place that already names every live worker: there an operator (and `tisw health`) sees
 * which port is whose without asking each process.
 */
export interface WorkerIdentity {
  host: string;
  pid: number;
  /** The port of its Prometheus endpoint; absent when it serves none (TISW_METRICS_PORT=0, or a second worker of one process). */
  metricsPort?: number;
}

export function workerIdentity({ host, pid, metricsPort }: WorkerIdentity): string {
  return `tisw-worker@${host}:${pid}${metricsPort !== undefined ? ` metrics=${metricsPort}` : ''}`;
}

/** The parts of an identity workerIdentity made; undefined for any other poller's (a test's, another SDK's). */
export function parseWorkerIdentity(identity: string): WorkerIdentity | undefined {
  const match = /^tisw-worker@(.+):(\d+)(?: metrics=(\d+))?$/.exec(identity);
  if (!match) return undefined;
  return { host: match[1]!, pid: Number(match[2]), ...(match[3] !== undefined && { metricsPort: Number(match[3]) }) };
}
