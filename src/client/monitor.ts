/**
 * Starting the cluster's singletons: the system monitor (src/workflows/system-monitor.workflow.ts) and, in
 * synced mode, the CoJ sync watcher (src/workflows/coj-sync-watcher.workflow.ts): one of each per namespace,
 * on the watchers' task queue (watchersTaskQueue: why there).
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Config } from '../config/config';
import { QUEUES } from '../shared/amqp';
import { MONITOR_WORKFLOW_ID, type MonitorSettings } from '../shared/monitor';
import { systemMonitorWorkflow } from '../workflows/system-monitor.workflow';
import { cojSyncWatcherWorkflow } from '../workflows/coj-sync-watcher.workflow';
import { COJ_SYNC_WATCHER_WORKFLOW_ID } from '../shared/coj';
import { watchersTaskQueue } from '../shared/temporal';

export function monitorSettings(config: Config): MonitorSettings {
  return {
    ...config.monitor,
    queues: [QUEUES.cojSigned, QUEUES.esrAppFileCommand, QUEUES.acknowledgement],
    cojSlaMs: config.coj.slaMs,
    ...(config.coj.acknowledgement === 'synced' && { cojSyncStalledAfterMs: config.coj.syncStalledAfterMs }),
  };
}

/**
 * Starts the monitor unless it runs. Every worker calls this at start, so the monitor exists as long as
 * any worker does; the fixed id makes the calls of a whole cluster end in one monitor.
 */
export function ensureMonitor(client: Client, config: Config, workflowId = MONITOR_WORKFLOW_ID): Promise<'started' | 'running'> {
  return startUnlessRunning(client.workflow.start(systemMonitorWorkflow, {
    workflowId,
    taskQueue: watchersTaskQueue(config.temporal.taskQueue),
    args: [{ settings: monitorSettings(config), episodes: [], lastReady: {} }],
  }));
}

/**
 * Starts the sync watcher unless it runs (every worker calls this at start when COJ_ACKNOWLEDGEMENT is
 * synced). A watcher left running after a switch to reply mode is harmless: a run in reply mode takes its
 * signal as an acknowledgement too, and TIS's own sync writes the same syncedAt.
 */
export function ensureSyncWatcher(client: Client, config: Config, workflowId = COJ_SYNC_WATCHER_WORKFLOW_ID): Promise<'started' | 'running'> {
  return startUnlessRunning(client.workflow.start(cojSyncWatcherWorkflow, { workflowId, taskQueue: watchersTaskQueue(config.temporal.taskQueue), args: [{ intervalMs: config.coj.syncWatchIntervalMs }] }));
}

/** A fixed workflow id makes the starts of a whole cluster end in one run. */
async function startUnlessRunning(start: Promise<unknown>): Promise<'started' | 'running'> {
  try {
    await start;
    return 'started';
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return 'running';
    throw err;
  }
}
