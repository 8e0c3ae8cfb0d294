/**
 * The one access module for the ESR store (config.mongo.esr): GeneratedAppRecords, the shared
 * file-sequence counter, and one appFile per command.
 *
 * The file sequence must stay unique and gap-free although FerretDB's `$inc` loses updates under
 * concurrency and there are no transactions (design.md). So the number is not taken with `$inc`:
 *   1. the appFile for the command is inserted first, with sequence = max(counter, highest appFile) + 1,
 *      under a unique index on `sequence` (a concurrent taker of the same number gets E11000: it fails
 *      loudly, as SequenceConflictError, and its command comes back and takes the next number);
 *   2. the counter is then raised with `$max` (idempotent; a lost or skipped update is harmless because
 *      the next number is derived from the appFiles too).
 * A reservation is never deleted: an exporter that crashes after step 1 finds its appFile by commandId
 * when the command comes back and finishes the same file under the same number. Hence no gaps.
 */
import type { Collection, Db, Filter } from 'mongodb';
import { MongoServerError } from 'mongodb';
import type { MongoTarget } from '../config/config';
import { APP_FILE_SEQUENCE_COUNTER, appFileName, DUE_BEFORE_DAYS, DUE_FROM_DAYS, ESR_COLLECTIONS, type AppFileReply, type AppRecordStatus, type Deanery, type SkippedAppRecord } from '../shared/esr';
import { TiswError } from '../shared/errors';
import { createIndexes, openMongo, type IndexSpec, type MongoStore } from './mongo';

/** One placement of a future trainee, waiting to be sent to ESR (TIS's AppGenerator creates these). */
export interface GeneratedAppRecord {
  _id: string;
  deanery: string;
  placementId?: string;
  positionNumber?: string;
  applicant?: { forenames?: string; surname?: string; gmcNumber?: string };
  /** YYYY-MM-DD */
  placementStartDate?: string;
  status: AppRecordStatus;
  fileName?: string;
  exportedAt?: Date;
}

export type AppFileStatus = 'generating' | 'made';

/** One per command (`_id` = commandId): the file it made and when. */
export interface AppFileDocument {
  _id: string;
  deanery: Deanery;
  runDate: string;
  sequence: number;
  fileName: string;
  status: AppFileStatus;
  startedAt: Date;
  finishedAt?: Date;
  recordCount?: number;
  skipped?: SkippedAppRecord[];
}

interface CounterDocument {
  _id: string;
  value: number;
}

/** Two generations took the same sequence number at once; the unique index refused the second. Transient. */
export class SequenceConflictError extends TiswError {
  override readonly name = 'SequenceConflictError';
}

const DUPLICATE_KEY = 11000;
const DAY_MS = 86_400_000;

/** The placement start dates that are due on `runDate`: [from, before), as YYYY-MM-DD. */
export function dueWindow(runDate: string): { from: string; before: string } {
  const day = Date.parse(`${runDate}T00:00:00Z`);
  const iso = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
  return { from: iso(day + DUE_FROM_DAYS * DAY_MS), before: iso(day + DUE_BEFORE_DAYS * DAY_MS) };
}

/** The file as the exporter reports it: its reply on the acknowledgement contract, and what an observing run reads. */
export function appFileReport(appFile: AppFileDocument): AppFileReply {
  return {
    commandId: appFile._id,
    deanery: appFile.deanery,
    fileName: appFile.fileName,
    sequence: appFile.sequence,
    recordCount: appFile.recordCount ?? 0,
    skipped: appFile.skipped ?? [],
  };
}

/** TO_EXPORT records of the deanery whose placement starts in the run date's due window. */
function dueFilter(deanery: string, runDate: string): Filter<GeneratedAppRecord> {
  const { from, before } = dueWindow(runDate);
  return { deanery, status: 'TO_EXPORT', placementStartDate: { $gte: from, $lt: before } };
}

/** The indexes of the exporter's store, by collection, with what each serves (`tisw health` reports those missing). */
export const ESR_INDEXES: Readonly<Record<string, readonly IndexSpec[]>> = {
  [ESR_COLLECTIONS.appFiles]: [
    // appFiles are keyed by commandId (_id); a sequence number can be taken once only.
    { key: { sequence: 1 }, unique: true, name: 'sequence_unique', why: 'a file sequence number can be taken once only: without it two generations at once could take the same number' },
    { key: { runDate: 1, deanery: 1 }, name: 'runDate_deanery', why: "a day's files are found by run date and deanery" },
  ],
  [ESR_COLLECTIONS.generatedAppRecords]: [
    // The due-records query: deanery and status by equality, then the start-date range.
    { key: { deanery: 1, status: 1, placementStartDate: 1 }, name: 'due_records', why: "the ESR run's check that no due record is left (and the exporter) reads records by deanery, status and start date" },
    { key: { fileName: 1 }, name: 'fileName', why: "the exporter finds the records of an interrupted file by its name" },
  ],
};

export class EsrStore {
  readonly records: Collection<GeneratedAppRecord>;
  readonly counters: Collection<CounterDocument>;
  readonly appFiles: Collection<AppFileDocument>;

  constructor(
    readonly db: Db,
    private readonly onClose: () => Promise<void> = async () => undefined,
  ) {
    this.records = db.collection<GeneratedAppRecord>(ESR_COLLECTIONS.generatedAppRecords);
    this.counters = db.collection<CounterDocument>(ESR_COLLECTIONS.counters);
    this.appFiles = db.collection<AppFileDocument>(ESR_COLLECTIONS.appFiles);
  }

  /**
   * Opens the store. `createIndexes`: for the exporter, which owns the store, only (and its stand-ins in the
   * benchmarks and tests): tis-workflows creates no index in the exporter's database. @default false
   */
  static async open(target: MongoTarget, appName: string, { createIndexes = false }: { createIndexes?: boolean } = {}): Promise<EsrStore> {
    const mongo: MongoStore = await openMongo(target, appName);
    const store = new EsrStore(mongo.db, () => mongo.close());
    try {
      if (createIndexes) await store.ensureIndexes();
    } catch (err) {
      await mongo.close();
      throw err;
    }
    return store;
  }

  close(): Promise<void> {
    return this.onClose();
  }

  /** The exporter's own indexes (ESR_INDEXES). */
  async ensureIndexes(): Promise<void> {
    for (const [collection, specs] of Object.entries(ESR_INDEXES)) await createIndexes(this.db.collection(collection), specs);
  }

  appFile(commandId: string): Promise<AppFileDocument | null> {
    return this.appFiles.findOne({ _id: commandId });
  }

  /**
   * The appFile of this command, reserving the next sequence number for it if it has none yet.
   * Throws SequenceConflictError when another generation took that number at the same moment.
   */
  async reserveAppFile(command: { commandId: string; deanery: Deanery; runDate: string }, startedAt: Date): Promise<AppFileDocument> {
    const existing = await this.appFile(command.commandId);
    if (existing) return existing;
    const [counter, last] = await Promise.all([
      this.counters.findOne({ _id: APP_FILE_SEQUENCE_COUNTER }),
      this.appFiles.find({}, { projection: { sequence: 1 } }).sort({ sequence: -1 }).limit(1).next(),
    ]);
    const sequence = Math.max(counter?.value ?? 0, last?.sequence ?? 0) + 1;
    const appFile: AppFileDocument = {
      _id: command.commandId,
      deanery: command.deanery,
      runDate: command.runDate,
      sequence,
      fileName: appFileName(command.deanery, command.runDate, sequence),
      status: 'generating',
      startedAt,
    };
    try {
      await this.appFiles.insertOne(appFile);
    } catch (err) {
      if (!(err instanceof MongoServerError && err.code === DUPLICATE_KEY)) throw err;
      // Either the same command is being handled twice at once (its _id exists), or the number is taken.
      const mine = await this.appFile(command.commandId);
      if (mine) return mine;
      throw new SequenceConflictError(`file sequence ${sequence} was taken by another generation at the same moment (unique index on appFiles.sequence)`);
    }
    await this.counters.updateOne({ _id: APP_FILE_SEQUENCE_COUNTER }, { $max: { value: sequence } }, { upsert: true });
    return appFile;
  }

  /** TO_EXPORT records of the deanery whose placement starts in the run date's due window, in file order. */
  dueRecords(deanery: string, runDate: string): Promise<GeneratedAppRecord[]> {
    return this.records.find(dueFilter(deanery, runDate)).sort({ placementStartDate: 1, _id: 1 }).toArray();
  }

  /** Records already marked as written to this file (by an earlier, interrupted attempt at it). */
  recordsInFile(fileName: string): Promise<GeneratedAppRecord[]> {
    return this.records.find({ fileName }).sort({ placementStartDate: 1, _id: 1 }).toArray();
  }

  /** Marks records EXPORTED in this file; records already exported are left as they are. */
  async markExported(ids: string[], fileName: string, exportedAt: Date): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) {
      const batch = ids.slice(i, i + 500);
      await this.records.updateMany({ _id: { $in: batch }, status: 'TO_EXPORT' }, { $set: { status: 'EXPORTED', fileName, exportedAt } });
    }
  }

  async finishAppFile(commandId: string, outcome: { recordCount: number; skipped: SkippedAppRecord[]; finishedAt: Date }): Promise<AppFileDocument> {
    await this.appFiles.updateOne({ _id: commandId, status: 'generating' }, { $set: { status: 'made', ...outcome } });
    const finished = await this.appFile(commandId);
    if (!finished) throw new Error(`appFile ${commandId} vanished while it was being finished`);
    return finished;
  }

  /**
   * Due TO_EXPORT records of the deanery left after a file, not counting those the exporter reported as
   * unusable: one count on the due_records index.
   */
  remainingDue(deanery: string, runDate: string, excludeIds: string[] = []): Promise<number> {
    return this.records.countDocuments(excludeIds.length > 0 ? { ...dueFilter(deanery, runDate), _id: { $nin: excludeIds } } : dueFilter(deanery, runDate));
  }

  /** The shared counter's value (0 before the first file). */
  async counterValue(): Promise<number> {
    return (await this.counters.findOne({ _id: APP_FILE_SEQUENCE_COUNTER }))?.value ?? 0;
  }

  appFilesOf(runDate: string): Promise<AppFileDocument[]> {
    return this.appFiles.find({ runDate }).sort({ sequence: 1 }).toArray();
  }
}
