/**
 * The reference ESR data exporter (stands for TIS's EsrDataExporter): consumes app-file generation
 * commands `{ commandId, deanery, runDate }` and, per command, writes one file of the deanery's due
 * GeneratedAppRecords, marks them EXPORTED, records the appFile and, when the command names `replyTo`
 * and `correlationId` (the reply contract), replies there:
 * `{ status: "ok", commandId, deanery, fileName, sequence, recordCount, skipped }`. A command without
 * them (`observed` mode, as TIS's own exporter runs) gets no reply: the run reads appFiles instead.
 *
 * - The same commandId again: the same reply, no second file or number (the appFile is keyed by it).
 * - No due records: still a file (header and trailer) with its sequence number.
 * - A due record with missing or unusable fields: reported in `skipped`, left TO_EXPORT.
 * - Malformed command: dead-lettered (and a "rejected" reply when it says where to reply);
 *   an unknown deanery: a "rejected" reply naming the known ones, and dead-lettered.
 * - A transient failure (database down, a sequence taken at the same moment): thrown, so the message is
 *   not acknowledged and comes back; every step is idempotent, so the retry finishes the same file.
 *
 * File format (pipe-separated, one line each, "\n" line ends, UTF-8):
 *   HDR|APP|<DEANERY>|<YYYYMMDD run date>|<8-digit sequence>|<file name>
 *   APP|<record id>|<placementId>|<positionNumber>|<surname>|<forenames>|<gmcNumber or empty>|<YYYYMMDD placement start>
 *   TRL|<number of APP lines, 8 digits>
 * Records are in placement start date order, then record id.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ConsumeMessage } from 'amqplib';
import type { Config } from '../config/config';
import type { Logger } from '../config/logger';
import { readJsonMessage, startConsumer, type Consumer, type ConsumerContext, type Outcome } from '../adapters/amqp-consumer';
import { appFileReport, EsrStore, SequenceConflictError, type AppFileDocument, type GeneratedAppRecord } from '../adapters/esr-store';
import { QUEUES } from '../shared/amqp';
import { DEANERIES, isDeanery, type AppFileCommand, type AppFileReply, type SkippedAppRecord } from '../shared/esr';
import { appFileCommand, describeIssues } from '../shared/messages';

export interface EsrExporterOptions {
  amqpUrl: string;
  store: EsrStore;
  filesDir: string;
  log: Logger;
  /** @default esr-data-exporter */
  connectionName?: string;
  /**
   * Commands handled at once. 1 (one at a time) is what the exporter is for; tests raise it to show
   * what 13 concurrent generations do to the shared counter. @default 1
   */
  prefetch?: number;
  /** @default 1000 */
  requeueDelayMs?: number;
  /** Called before each generation; a test throws from it to stand for a transient database error. */
  beforeGeneration?: (command: AppFileCommand) => void | Promise<void>;
}

export interface EsrExporterStats {
  /** Files finished (for commands seen the first time). */
  generated: number;
  /** "ok" replies sent: one per command that named replyTo and correlationId (none in `observed` mode). */
  replies: number;
  /** Times a generation found its sequence number already taken by a concurrent one. */
  sequenceConflicts: number;
  /** Transient failures of any kind (the command came back). */
  transientFailures: number;
}

export interface EsrExporter extends Consumer {
  stats: EsrExporterStats;
}

export function startEsrExporter(options: EsrExporterOptions): EsrExporter {
  const log = options.log.child({ component: 'esr-data-exporter' });
  const stats: EsrExporterStats = { generated: 0, replies: 0, sequenceConflicts: 0, transientFailures: 0 };
  const consumer = startConsumer({
    url: options.amqpUrl,
    queue: QUEUES.esrAppFileCommand,
    connectionName: options.connectionName ?? 'esr-data-exporter',
    prefetch: options.prefetch ?? 1,
    requeueDelayMs: options.requeueDelayMs ?? 1000,
    log,
    handle: async (message, context) => {
      try {
        return await handle(message, context, options, stats, log);
      } catch (err) {
        stats.transientFailures++;
        if (err instanceof SequenceConflictError) stats.sequenceConflicts++;
        throw err;
      }
    },
  });
  return { ...consumer, stats };
}

async function handle(message: ConsumeMessage, context: ConsumerContext, options: EsrExporterOptions, stats: EsrExporterStats, log: Logger): Promise<Outcome> {
  const replyTo = message.properties.replyTo as string | undefined;
  const correlationId = message.properties.correlationId as string | undefined;
  const reject = async (reason: string): Promise<Outcome> => {
    if (replyTo && correlationId) await context.publish(replyTo, { status: 'rejected', reason }, { correlationId, type: 'esr.appfile.rejected' });
    return { kind: 'dead-letter', reason };
  };

  const read = readJsonMessage(message);
  if (!read.ok) return reject(read.reason);
  const parsed = appFileCommand.safeParse(read.body);
  if (!parsed.success) return reject(`not an app-file command: ${describeIssues(parsed.error)}`);
  const { deanery } = parsed.data;
  if (!isDeanery(deanery)) return reject(`unknown deanery ${deanery}; known: ${DEANERIES.join(', ')}`);
  const command: AppFileCommand = { ...parsed.data, deanery };

  const existing = await options.store.appFile(command.commandId);
  let result: AppFileReply;
  if (existing?.status === 'made') {
    log.info({ commandId: command.commandId, fileName: existing.fileName }, 'command seen before: same reply, no new file');
    result = appFileReport(existing);
  } else {
    await options.beforeGeneration?.(command);
    result = await generateAppFile(options.store, options.filesDir, command);
    stats.generated++;
    log.info({ commandId: command.commandId, fileName: result.fileName, recordCount: result.recordCount, skipped: result.skipped.length }, 'app file made');
  }
  // Only a command on the reply contract names where to reply. One without (the run observes the store,
  // as TIS's EsrDataExporter is acknowledged today) has its answer in appFiles, keyed by the commandId.
  if (replyTo && correlationId) {
    await context.publish(replyTo, { status: 'ok', ...result }, { correlationId, messageId: `${command.commandId}-reply`, type: 'esr.appfile.made' });
    stats.replies++;
  } else {
    log.debug({ commandId: command.commandId }, 'command names no replyTo: file recorded in appFiles, no reply');
  }
  return { kind: 'done' };
}

/**
 * Makes (or finishes) the file for one command. Idempotent: run again after a crash at any step, it
 * finishes the same file under the same sequence number; run after it finished, it changes nothing.
 */
export async function generateAppFile(store: EsrStore, filesDir: string, command: AppFileCommand): Promise<AppFileReply> {
  const appFile = await store.reserveAppFile(command, new Date());
  if (appFile.status === 'made') return appFileReport(appFile);
  return writeAppFile(store, filesDir, appFile);
}

/**
 * The file of an appFile whose number is taken: the deanery's due records (and any an interrupted attempt
 * already marked for it) written out, marked EXPORTED, the appFile finished. How the number was taken is the
 * caller's: the reference exporter's reserveAppFile, or the 2021 reconstruction of `tisw drill esr-2021`.
 */
export async function writeAppFile(store: EsrStore, filesDir: string, appFile: AppFileDocument): Promise<AppFileReply> {
  const command = { commandId: appFile._id, deanery: appFile.deanery, runDate: appFile.runDate };
  // Records an interrupted attempt already marked for this file, plus those still due.
  const [already, due] = await Promise.all([store.recordsInFile(appFile.fileName), store.dueRecords(command.deanery, command.runDate)]);
  const candidates = [...already, ...due.filter((r) => !already.some((a) => a._id === r._id))].sort(
    (a, b) => (a.placementStartDate ?? '').localeCompare(b.placementStartDate ?? '') || a._id.localeCompare(b._id),
  );
  const lines: string[] = [];
  const written: string[] = [];
  const skipped: SkippedAppRecord[] = [];
  for (const record of candidates) {
    const line = recordLine(record);
    if (typeof line === 'string') {
      lines.push(line);
      written.push(record._id);
    } else {
      skipped.push({ recordId: record._id, reason: line.problem });
    }
  }
  await writeFileAtomically(filesDir, appFile.fileName, renderAppFile(appFile, lines));
  await store.markExported(written, appFile.fileName, new Date());
  const finished = await store.finishAppFile(command.commandId, { recordCount: written.length, skipped, finishedAt: new Date() });
  return appFileReport(finished);
}

const compact = (date: string): string => date.replace(/-/g, '');

export function renderAppFile(appFile: Pick<AppFileDocument, 'deanery' | 'runDate' | 'sequence' | 'fileName'>, recordLines: string[]): string {
  return [
    ['HDR', 'APP', appFile.deanery, compact(appFile.runDate), String(appFile.sequence).padStart(8, '0'), appFile.fileName].join('|'),
    ...recordLines,
    ['TRL', String(recordLines.length).padStart(8, '0')].join('|'),
  ].join('\n') + '\n';
}

/** The record's line, or why it cannot be written (a missing or unusable field). */
export function recordLine(record: GeneratedAppRecord): string | { problem: string } {
  const fields: Array<[string, unknown]> = [
    ['placementId', record.placementId],
    ['positionNumber', record.positionNumber],
    ['applicant.surname', record.applicant?.surname],
    ['applicant.forenames', record.applicant?.forenames],
    ['placementStartDate', record.placementStartDate],
  ];
  const missing = fields.filter(([, v]) => typeof v !== 'string' || v.trim() === '').map(([name]) => name);
  if (missing.length > 0) return { problem: `missing ${missing.join(', ')}` };
  const gmc = record.applicant?.gmcNumber ?? '';
  const values = [record._id, ...fields.slice(0, 4).map(([, v]) => String(v).trim()), typeof gmc === 'string' ? gmc.trim() : ''];
  const unusable = values.find((v) => /[|\r\n]/.test(v));
  if (unusable !== undefined) return { problem: `a field holds a "|" or a line break: ${JSON.stringify(unusable)}` };
  if (!/^\d{4}-\d{2}-\d{2}$/.test(record.placementStartDate ?? '')) return { problem: `placementStartDate ${JSON.stringify(record.placementStartDate)} is not YYYY-MM-DD` };
  return ['APP', ...values, compact(record.placementStartDate ?? '')].join('|');
}

async function writeFileAtomically(dir: string, name: string, content: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const temporary = path.join(dir, `.${name}.${process.pid}.tmp`);
  await fs.writeFile(temporary, content, 'utf8');
  await fs.rename(temporary, path.join(dir, name));
}


/** The exporter as `tisw receivers` runs it: opens the ESR store from the config; stop() closes it too. */
export async function startConfiguredEsrExporter(config: Config, log: Logger): Promise<Consumer> {
  const store = await EsrStore.open(config.mongo.esr, 'tisw-esr-exporter', { createIndexes: true });
  const exporter = startEsrExporter({ amqpUrl: config.amqp.url, store, filesDir: config.esr.filesDir, log });
  return {
    ready: exporter.ready,
    async stop() {
      await exporter.stop();
      await store.close();
    },
  };
}
