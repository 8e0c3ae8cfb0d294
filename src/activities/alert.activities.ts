import type { Alert, Alerter } from '../adapters/alerts';

export function createAlertActivities(alerter: Alerter) {
  return {
    /** Never fails: an alert that cannot reach its webhook is logged, and the workflow goes on. */
    raiseAlert(alert: Alert): Promise<void> {
      return alerter.raise(alert);
    },
  };
}

export type AlertActivities = ReturnType<typeof createAlertActivities>;
