import type { Alert, Alerter } from '../adapters/alerts';

// Workflows raise alerts through this activity and name them with these types, not the adapter's module.
export type { Alert, AlertKind } from '../adapters/alerts';

export function createAlertActivities(alerter: Alerter) {
  return {
    /** Never fails: an alert that cannot reach its webhook is logged, and the workflow goes on. */
    raiseAlert(alert: Alert): Promise<void> {
      return alerter.raise(alert);
    },
  };
}

export type AlertActivities = ReturnType<typeof createAlertActivities>;
