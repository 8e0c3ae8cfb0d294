import type { Client } from '@temporalio/client';
import { readBrokerState } from '../adapters/broker-state';
import { cojsPastSla, monitorCondition } from '../adapters/metrics';
import { QUEUES } from '../shared/amqp';
import { type CojSyncObservation, type Observation } from '../shared/monitor';
import { waitingCojsQuery } from './coj-sync.activities';

export interface MonitorDeps {
  amqpUrl: string;
  client: Client;
  /** The cluster's task queue (TEMPORAL_TASK_QUEUE), whose CoJ runs are counted; the monitor itself runs on the watchers'. */
  taskQueue: string;
}

export function createMonitorActivities({ amqpUrl, client, taskQueue }: MonitorDeps) {
  return {
    /** One look at the broker: queue depths and consumers, and whether publishes are held back. */
    async observeBroker(queues: string[]): Promise<Observation> {
      const state = await readBrokerState(amqpUrl, queues, QUEUES.brokerCheck);
      return { reachable: state.reachable, queues: state.queues, ...(state.error !== undefined && { error: state.error }), ...(state.blocked !== undefined && { blocked: state.blocked }) };
    },

    /**
     * Synced mode: are CoJs waiting longer than `stalledAfterMs` while none has been acknowledged for as
     * long? Two visibility counts, whatever the number of CoJs.
     */
    async observeCojSync(stalledAfterMs: number): Promise<CojSyncObservation> {
      const since = new Date(Date.now() - stalledAfterMs).toISOString();
      const [waitingLong, acknowledgedRecently] = await Promise.all([
        client.workflow.count(`${waitingCojsQuery(taskQueue)} AND StartTime < '${since}'`),
        client.workflow.count(`WorkflowType = 'cojSubmissionWorkflow' AND ExecutionStatus = 'Completed' AND TaskQueue = '${taskQueue}' AND CloseTime > '${since}'`),
      ]);
      return { waitingLong: waitingLong.count, acknowledgedRecently: acknowledgedRecently.count };
    },

    /**
     * Publishes the monitor's view as gauges in this worker: each condition (1 while in an alerted episode)
     * and the CoJ submissions running longer than the SLA (a visibility count, not a listing). Every worker
     * that ran this reports the last value it saw: take max() across workers.
     */
    async reportMonitorState({ conditions, slaMs }: { conditions: Record<string, boolean>; slaMs: number }): Promise<void> {
      for (const [condition, active] of Object.entries(conditions)) monitorCondition.set({ condition }, active ? 1 : 0);
      const since = new Date(Date.now() - slaMs).toISOString();
      const { count } = await client.workflow.count(`WorkflowType = 'cojSubmissionWorkflow' AND ExecutionStatus = 'Running' AND StartTime < '${since}'`);
      cojsPastSla.set(count);
    },
  };
}

export type MonitorActivities = ReturnType<typeof createMonitorActivities>;
