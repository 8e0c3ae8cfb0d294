/**
 * Deliberately broken ESR data exporters, for `tisw conformance esr` to catch (test/conformance-esr.test.ts).
 * Each is a broken receiver (broken-receivers.ts) that honours the reply contract in every way but one,
 * and records its files as the reference exporter does (appFiles keyed by commandId, EsrStore's layout), so that the conformance run reads back what it made. Its files hold no records: a conformance
 * run's commands have nothing due.
 *   - second-file-on-repeat: a commandId seen before gets a new file under the next number, recorded in
 *     place of the first (as an exporter that never looks its commands up does);
 *   - sequence-per-deanery: takes its file numbers from a counter per deanery, not the one shared counter,
 *     so that two deaneries' files carry the same number (the store it is given has no unique index on
 *     appFiles.sequence, or the second would fail);
 *   - silent-on-unknown-deanery: takes a command for a deanery it does not know and never answers it;
 *   - dies-on-bad-json: a body that is not JSON kills it.
 */
import type { AppFileDocument, EsrStore } from '../../src/adapters/esr-store';
import { APP_FILE_SEQUENCE_COUNTER, appFileName, isDeanery } from '../../src/shared/esr';
import { appFileCommand } from '../../src/shared/messages';
import { startBrokenReceiver, type BrokenReceiver } from './broken-receivers';

export const ESR_EXPORTER_FAULTS = ['second-file-on-repeat', 'sequence-per-deanery', 'silent-on-unknown-deanery', 'dies-on-bad-json'] as const;
export type EsrExporterFault = (typeof ESR_EXPORTER_FAULTS)[number];

export type BrokenEsrExporter = BrokenReceiver;

export function startBrokenEsrExporter(fault: EsrExporterFault, options: { amqpUrl: string; store: EsrStore }): Promise<BrokenEsrExporter> {
  const { store } = options;
  const queue = `tisw.test.conformance.esr.${fault}.${process.pid}`;
  const nextSequence = async (deanery: string): Promise<number> => {
    const counter = fault === 'sequence-per-deanery' ? `${APP_FILE_SEQUENCE_COUNTER}.${deanery}` : APP_FILE_SEQUENCE_COUNTER;
    const value = (await store.counters.findOne({ _id: counter }))?.value ?? 0;
    const last = fault === 'sequence-per-deanery' ? 0 : ((await store.appFiles.find({}).sort({ sequence: -1 }).limit(1).next())?.sequence ?? 0);
    const sequence = Math.max(value, last) + 1;
    await store.counters.updateOne({ _id: counter }, { $max: { value: sequence } }, { upsert: true });
    return sequence;
  };
  return startBrokenReceiver(`broken-esr-exporter-${fault}`, { amqpUrl: options.amqpUrl, queue, diesOnBadJson: fault === 'dies-on-bad-json' }, async (body, answer) => {
    const parsed = appFileCommand.safeParse(body);
    if (!parsed.success) return answer.refuse('not an app-file command');
    const { commandId, deanery, runDate } = parsed.data;
    if (!isDeanery(deanery)) {
      if (fault === 'silent-on-unknown-deanery') return answer.ack();
      return answer.refuse(`unknown deanery ${deanery}`);
    }
    let file = await store.appFile(commandId);
    if (!file || fault === 'second-file-on-repeat') {
      const sequence = await nextSequence(deanery);
      const now = new Date();
      const made: AppFileDocument = { _id: commandId, deanery, runDate, sequence, fileName: appFileName(deanery, runDate, sequence), status: 'made', startedAt: now, finishedAt: now, recordCount: 0, skipped: [] };
      await store.appFiles.replaceOne({ _id: commandId }, made, { upsert: true });
      file = made;
    }
    answer.reply({ status: 'ok', commandId, deanery, fileName: file.fileName, sequence: file.sequence, recordCount: file.recordCount ?? 0, skipped: file.skipped ?? [] });
    answer.ack();
  });
}
