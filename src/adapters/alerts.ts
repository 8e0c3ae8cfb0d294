/**
 * The one way anything raises an alert: a structured log line, a counter (tisw_alerts_total{kind}),
 * and, when TISW_ALERT_WEBHOOK_URL is set, a Slack-compatible JSON POST. Raising never throws and never
 * waits longer than the webhook timeout: an alert that cannot be delivered must not stop the work.
 */
import type { Logger } from '../config/logger';
import { alertsTotal } from './metrics';

export type AlertKind =
  | 'coj-late'
  | 'coj-rejected'
  | 'coj-unsubmitted'
  | 'coj-sync-stalled'
  | 'esr-deanery-failing'
  | 'queue-idle'
  | 'queue-no-progress'
  | 'broker-blocked'
  | 'ack-queue-growing'
  | 'broker-unreachable';

export interface Alert {
  kind: AlertKind;
  /** One line a person reads first: what is wrong, and which CoJ / deanery. */
  summary: string;
  details?: Record<string, unknown>;
  /** Set when this ends an episode raised earlier (a monitor's condition cleared): said, not counted. */
  resolved?: true;
}

export interface AlerterOptions {
  log: Logger;
  webhookUrl?: string;
  /** @default 5000 */
  webhookTimeoutMs?: number;
}

export class Alerter {
  constructor(private readonly options: AlerterOptions) {}

  async raise(alert: Alert): Promise<void> {
    const raisedAt = new Date().toISOString();
    if (alert.resolved) {
      this.options.log.info({ alert: alert.kind, details: alert.details, resolvedAt: raisedAt }, `RESOLVED ${alert.kind}: ${alert.summary}`);
    } else {
      alertsTotal.inc({ kind: alert.kind });
      this.options.log.warn({ alert: alert.kind, details: alert.details, raisedAt }, `ALERT ${alert.kind}: ${alert.summary}`);
    }
    const url = this.options.webhookUrl;
    if (!url) return;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          text: alert.resolved ? `:white_check_mark: tis-workflows ${alert.kind} resolved: ${alert.summary}` : `:rotating_light: tis-workflows ${alert.kind}: ${alert.summary}`,
          tisw: { ...alert, raisedAt },
        }),
        signal: AbortSignal.timeout(this.options.webhookTimeoutMs ?? 5000),
      });
      if (!response.ok) this.options.log.error({ alert: alert.kind, status: response.status }, 'alert webhook answered with an error');
    } catch (err) {
      this.options.log.error({ alert: alert.kind, err: (err as Error).message }, 'alert webhook failed');
    }
  }
}
