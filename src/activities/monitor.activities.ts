import { readBrokerState } from '../adapters/broker-state';
import { QUEUES, type Observation } from '../shared/contract';

export interface MonitorDeps {
  amqpUrl: string;
}

export function createMonitorActivities({ amqpUrl }: MonitorDeps) {
  return {
    /** One look at the broker: queue depths and consumers, and whether publishes are held back. */
    async observeBroker(queues: string[]): Promise<Observation> {
      const state = await readBrokerState(amqpUrl, queues, QUEUES.brokerCheck);
      return { reachable: state.reachable, queues: state.queues, ...(state.error !== undefined && { error: state.error }), ...(state.blocked !== undefined && { blocked: state.blocked }) };
    },
  };
}

export type MonitorActivities = ReturnType<typeof createMonitorActivities>;
