/**
 * The ESR run's I/O: publishing an app-file command (with confirms), checking what is still due after a
 * file, observing the exporter's store for a command's file (`observed` mode), and raising the alert for a
 * deanery that keeps failing.
 */
import type { AmqpPublisher } from '../adapters/amqp';
import { esrCommandsPublishedTotal, esrDeaneryFailuresTotal } from '../adapters/metrics';
import type { Alerter } from '../adapters/alerts';
import { appFileReport, type EsrStore } from '../adapters/esr-store';
import { QUEUES } from '../shared/amqp';
import { esrAcknowledgementOf, type AppFileCommand, type EsrAcknowledgementMode, type ObservedAppFile } from '../shared/esr';

export interface EsrDeps {
  amqp: AmqpPublisher;
  esr: EsrStore;
  alerter: Alerter;
}

export function createEsrActivities({ amqp, esr, alerter }: EsrDeps) {
  return {
    /**
     * Publishes the command. On the reply contract the exporter replies to the acknowledgement queue with
     * `correlationId` (the waiting workflow's id); in `observed` mode the command names no `replyTo` (TIS's
     * exporter sends no reply) and the run reads the exporter's store instead. The copy expires when the
     * workflow would resend it anyway: a command that keeps failing in the exporter (requeued at the head of
     * the queue) cannot pile up copies or hold back the next deanery's command for longer than that.
     */
    async publishAppFileCommand(publish: { command: AppFileCommand; correlationId: string; expiresAfterMs: number; acknowledgement?: EsrAcknowledgementMode }): Promise<void> {
      const { command, correlationId, expiresAfterMs } = publish;
      try {
        await amqp.publish(QUEUES.esrAppFileCommand, command, {
          messageId: command.commandId,
          correlationId,
          ...(esrAcknowledgementOf(publish) === 'reply' && { replyTo: QUEUES.acknowledgement }),
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

    /**
     * `observed` mode's acknowledgement, read from the exporter's store: the command's file once it is made,
     * with the deanery's due records still left (the same count as remainingDueRecords); null while the file
     * is not made. One read by commandId (_id), and one count only once the file is there.
     */
    async observeAppFile({ commandId, deanery, runDate }: AppFileCommand): Promise<ObservedAppFile | null> {
      const appFile = await esr.appFile(commandId);
      if (appFile?.status !== 'made') return null;
      const file = appFileReport(appFile);
      return { file, remainingDue: await esr.remainingDue(deanery, runDate, file.skipped.map((s) => s.recordId)) };
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
