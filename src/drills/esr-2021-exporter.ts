/**
 * THE 2021 INCIDENT, RECONSTRUCTED, for `tisw drill esr-2021` only: the ESR data exporter as it ran in July
 * 2021 (domain.md), not the reference exporter (src/receivers/esr-exporter.ts), which is the cure. Never run it
 * against a real store.
 *
 * What it keeps of 2021:
 *   - commands handled concurrently (`prefetch` in flight at once; the cron sent all 13 together);
 *   - the next file number taken by read-modify-write of the one shared counter document: a read, then a
 *     write of value + 1, two round trips to the store. In 2021 both ran inside a MongoDB transaction, and a
 *     transaction whose counter had been written by another since it read it failed with WriteConflict (112).
 *     FerretDB has no transactions, so that check is the write's own filter (the value read): a write that
 *     finds the counter changed is the conflict, and the generation fails as it did. FerretDB checks that
 *     filter by reading before it writes, so two generations can both pass it: both then make a file under
 *     the same number, which MongoDB's transaction would have refused. Nothing here is simulated or delayed:
 *     the drill's figures are what these round trips did;
 *   - no retries: the retry policy lost in the migration. A failed generation is rejected without requeue,
 *     logged, and its records stay TO_EXPORT;
 *   - no unique index on the file sequence: the counter (and its transaction) was all that kept numbers unique.
 * What it shares with the reference exporter, being the same: the file's content, and how the records are
 * marked EXPORTED and the file recorded (writeAppFile).
 */
import type { Logger } from '../config/logger';
import { readJsonMessage, startConsumer, type Consumer } from '../adapters/amqp-consumer';
import type { EsrStore } from '../adapters/esr-store';
import { writeAppFile } from '../receivers/esr-exporter';
import { QUEUES } from '../shared/amqp';
import { APP_FILE_SEQUENCE_COUNTER, appFileName, isDeanery, type AppFileCommand, type AppFileReply } from '../shared/esr';
import { appFileCommand, describeIssues } from '../shared/messages';

/** MongoDB's error for a transaction's write to a document another transaction wrote since it read it. */
export const WRITE_CONFLICT = 112;

export class WriteConflictError extends Error {
  override readonly name = 'WriteConflictError';
  readonly code = WRITE_CONFLICT;
}

/** What became of one command: its file, or why its generation failed (for good: nothing retries it). */
export type OldGeneration = { commandId: string; deanery: string; file: AppFileReply; failure: null } | { commandId: string; deanery: string; file: null; failure: string };

export interface OldEsrExporterOptions {
  amqpUrl: string;
  store: EsrStore;
  filesDir: string;
  log: Logger;
  /** Commands handled at once. @default 13 */
  prefetch?: number;
  onGeneration(outcome: OldGeneration): void;
}

export function startOldEsrExporter(options: OldEsrExporterOptions): Consumer {
  const log = options.log.child({ component: 'esr-exporter-2021' });
  return startConsumer({
    url: options.amqpUrl,
    queue: QUEUES.esrAppFileCommand,
    connectionName: 'esr-exporter-2021-reconstruction',
    prefetch: options.prefetch ?? 13,
    log,
    handle: async (message) => {
      const read = readJsonMessage(message);
      const parsed = read.ok ? appFileCommand.safeParse(read.body) : undefined;
      if (!parsed?.success || !isDeanery(parsed.data.deanery)) return { kind: 'reject', reason: read.ok ? `not an app-file command: ${parsed?.error ? describeIssues(parsed.error) : 'unknown deanery'}` : read.reason };
      const command: AppFileCommand = { ...parsed.data, deanery: parsed.data.deanery };
      try {
        const file = await generateTheOldWay(options.store, options.filesDir, command);
        options.onGeneration({ commandId: command.commandId, deanery: command.deanery, file, failure: null });
        return { kind: 'done' };
      } catch (err) {
        const failure = err instanceof WriteConflictError ? `WriteConflict (${WRITE_CONFLICT}): ${err.message}` : (err as Error).message;
        log.warn({ commandId: command.commandId, deanery: command.deanery, err: failure }, 'app file generation failed; not retried');
        options.onGeneration({ commandId: command.commandId, deanery: command.deanery, file: null, failure });
        // As after the migration: the failure is not redelivered, so it stays failed.
        return { kind: 'reject', reason: failure };
      }
    },
  });
}

async function generateTheOldWay(store: EsrStore, filesDir: string, command: AppFileCommand): Promise<AppFileReply> {
  const sequence = await nextNumberTheOldWay(store);
  const appFile = {
    _id: command.commandId,
    deanery: command.deanery,
    runDate: command.runDate,
    sequence,
    fileName: appFileName(command.deanery, command.runDate, sequence),
    status: 'generating' as const,
    startedAt: new Date(),
  };
  await store.appFiles.insertOne(appFile);
  return writeAppFile(store, filesDir, appFile);
}

/** Read the counter, write it back plus one: two round trips, as in 2021. The drill seeds the counter. */
async function nextNumberTheOldWay(store: EsrStore): Promise<number> {
  const value = (await store.counters.findOne({ _id: APP_FILE_SEQUENCE_COUNTER }))?.value ?? 0;
  const written = await store.counters.updateOne({ _id: APP_FILE_SEQUENCE_COUNTER, value }, { $set: { value: value + 1 } });
  if (written.matchedCount === 0) {
    throw new WriteConflictError(`the file-sequence counter was no longer ${value} when this generation wrote it back; transaction aborted`);
  }
  return value + 1;
}
