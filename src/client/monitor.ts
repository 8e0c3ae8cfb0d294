/** Starting the system monitor (src/workflows/system-monitor.workflow.ts): one per namespace. */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Config } from '../config/config';
import { QUEUES } from '../shared/amqp';
import { MONITOR_WORKFLOW_ID, type MonitorSettings } from '../shared/monitor';
import { systemMonitorWorkflow } from '../workflows/system-monitor.workflow';

export function monitorSettings(config: Config): MonitorSettings {
  return { ...config.monitor, queues: [QUEUES.cojSigned, QUEUES.esrAppFileCommand, QUEUES.acknowledgement], cojSlaMs: config.coj.slaMs };
}

/**
 * Starts the monitor unless it runs. Every worker calls this at start, so the monitor exists as long as
 * any worker does; the fixed id makes the calls of a whole cluster end in one monitor.
 */
export async function ensureMonitor(client: Client, config: Config, workflowId = MONITOR_WORKFLOW_ID): Promise<'started' | 'running'> {
  try {
    await client.workflow.start(systemMonitorWorkflow, {
      workflowId,
      taskQueue: config.temporal.taskQueue,
      args: [{ settings: monitorSettings(config), episodes: [], lastReady: {} }],
    });
    return 'started';
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return 'running';
    throw err;
  }
}
