/**
 * The ESR run's I/O: publishing an app-file command (with confirms), checking what is still due after a
 * file, and raising the alert for a deanery that keeps failing.
 */
import type { AmqpPublisher } from '../adapters/amqp';
import { esrCommandsPublishedTotal, esrDeaneryFailuresTotal } from '../adapters/metrics';
import type { Alerter } from '../adapters/alerts';
import type { EsrStore } from '../adapters/esr-store';
import { QUEUES } from '../shared/amqp';
import { type AppFileCommand } from '../shared/esr';

export interface EsrDeps {
  amqp: AmqpPublisher;
  esr: EsrStore;
  alerter: Alerter;
}

export function createEsrActivities({ amqp, esr, alerter }: EsrDeps) {
  return {
    /**
     * Publishes the command; the exporter replies to the acknowledgement queue with `correlationId` (the
     * waiting workflow's id). The copy expires when the workflow would resend it anyway: a command that
     * keeps failing in the exporter (requeued at the head of the queue) cannot pile up copies or hold back
     * the next deanery's command for longer than that.
     */
    async publishAppFileCommand({ command, correlationId, expiresAfterMs }: { command: AppFileCommand; correlationId: string; expiresAfterMs: number }): Promise<void> {
      try {
        await amqp.publish(QUEUES.esrAppFileCommand, command, {
          messageId: command.commandId,
          correlationId,
          replyTo: QUEUES.acknowledgement,
          type: 'esr.appfilegenerationcommand.create',
          expiration: expiresAfterMs,
        });
      } catch (err) {
        esrCommandsPublishedTotal.inc({ deanery: command.deanery, result: 'failed' });
        throw err;
      }
      esrCommandsPublishedTotal.inc({ deanery: command.deanery, result: 'ok' });
    },

    /** Due TO_EXPORT records of the deanery still left, not counting those the exporter reported as unusable. */
    async remainingDueRecords({ deanery, runDate, excludeIds }: { deanery: string; runDate: string; excludeIds: string[] }): Promise<number> {
      return esr.remainingDue(deanery, runDate, excludeIds);
    },

    async raiseEsrDeaneryAlert(alert: { runDate: string; deanery: string; reason: string; attempts: number; workflowId: string }): Promise<void> {
      esrDeaneryFailuresTotal.inc({ deanery: alert.deanery });
      await alerter.raise({
        kind: 'esr-deanery-failing',
        summary: `ESR app file for deanery ${alert.deanery} (run date ${alert.runDate}) is failing: ${alert.reason}`,
        details: alert,
      });
    },
  };
}

export type EsrActivities = ReturnType<typeof createEsrActivities>;
