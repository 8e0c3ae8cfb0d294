/**
 * The project's own Prometheus metrics, in one registry. The worker serves them beside the Temporal
 * SDK's; prom-client because it is the standard Node client and gives histograms and text exposition.
 */
import { Counter, Registry } from 'prom-client';

export const registry = new Registry();

export const alertsRaised = new Counter({
  name: 'tisw_alerts_total',
  help: 'Alerts raised, by kind',
  labelNames: ['kind'] as const,
  registers: [registry],
});
