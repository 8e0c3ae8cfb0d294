/**
 * ESR app files: deaneries, the exporter's store names, the command and its reply, the file name, the
 * run's timings, request, status and the lane. Safe to import from workflow code.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { isRunDate, RUN_DATE_SHAPE } from './dates';

/** The 13 ESR deanery codes, in the order TIS's daily runs used them (domain.md, July 2021). */
export const DEANERIES = ['EMD', 'KSS', 'NTH', 'WMD', 'PEN', 'NWN', 'YHD', 'EOE', 'OXF', 'WES', 'LDN', 'MER', 'SEV'] as const;
export type Deanery = (typeof DEANERIES)[number];
export const isDeanery = (code: unknown): code is Deanery => (DEANERIES as readonly unknown[]).includes(code);

/**
 * What acknowledges an ESR command (design.md, "Two ways a job is acknowledged"):
 *   - observed: the command's file recorded in the exporter's store and no due TO_EXPORT record left for
 *     the deanery, polled (TIS's EsrDataExporter as it runs today sends no reply);
 *   - reply: the exporter's reply on the acknowledgement contract.
 */
export const ESR_ACKNOWLEDGEMENT_MODES = ['observed', 'reply'] as const;
export type EsrAcknowledgementMode = (typeof ESR_ACKNOWLEDGEMENT_MODES)[number];

/**
 * The mode a run or request goes by. The client and the schedule always name it (from ESR_ACKNOWLEDGEMENT);
 * runs recorded before the modes existed name none, and they ran on the reply contract.
 */
export const esrAcknowledgementOf = (request: { acknowledgement?: EsrAcknowledgementMode | undefined }): EsrAcknowledgementMode => request.acknowledgement ?? 'reply';

/** The ESR store (reference exporter's side). */
export const ESR_COLLECTIONS = { generatedAppRecords: 'generatedAppRecords', counters: 'counters', appFiles: 'appFiles' } as const;
/** The one shared file-sequence counter document in `counters`. */
export const APP_FILE_SEQUENCE_COUNTER = 'appFileSequence';

export type AppRecordStatus = 'TO_EXPORT' | 'EXPORTED';

/** A record is due when its placement starts at least this many days after the run date ... */
export const DUE_FROM_DAYS = 2;
/** ... and less than this many days (13 weeks) after it. */
export const DUE_BEFORE_DAYS = 13 * 7;

/** The command on esr.queue.appfilegenerationcommand.create.dataexporter. */
export interface AppFileCommand {
  /** Stable across resends: the same commandId always yields the same file. */
  commandId: string;
  deanery: Deanery;
  /** YYYY-MM-DD (UTC day). */
  runDate: string;
}

/** A due record that could not be written (missing or unusable fields): left TO_EXPORT. */
export interface SkippedAppRecord {
  recordId: string;
  reason: string;
}

/** The exporter's reply body on success (status "ok"). */
export interface AppFileReply {
  commandId: string;
  deanery: Deanery;
  fileName: string;
  sequence: number;
  recordCount: number;
  skipped: SkippedAppRecord[];
}

/** What an `observed` run reads as a command's acknowledgement: its file, and the deanery's due records still left. */
export interface ObservedAppFile {
  file: AppFileReply;
  remainingDue: number;
}

/** `DE_<DEANERY>_APP_<YYYYMMDD>_<8-digit sequence>.DAT` */
export const appFileName = (deanery: string, runDate: string, sequence: number): string =>
  `DE_${deanery}_APP_${runDate.replace(/-/g, '')}_${String(sequence).padStart(8, '0')}.DAT`;

/** One command per run date, deanery and pass: a resend keeps its id, so the exporter makes one file for it. */
export const appFileCommandId = (runDate: string, deanery: string, pass: number): string => `esr-${runDate}-${deanery}-${pass}`;

export type EsrDeaneryStage = 'pending' | 'publishing' | 'awaiting-acknowledgement' | 'checking' | 'done' | 'failing';
export type EsrRunStage = 'queued' | 'running' | 'retrying-failed-deaneries' | 'done';

export interface EsrTimings {
  /** First wait for the exporter's acknowledgement before publishing the command again; doubles up to resendMaxMs. */
  resendInitialMs: number;
  resendMaxMs: number;
  /** Publishes of one command in a round before the deanery counts as failing (alert, move on, come back). */
  attemptsPerRound: number;
  /** Pause before coming back to failing deaneries. */
  roundPauseMs: number;
  /** Passes (new commands) for one deanery while due records remain after a file, before it counts as failing. */
  maxPasses: number;
  /** `observed` mode: how often the run reads the exporter's store for the command's file (ESR_OBSERVE_SECONDS). */
  observeIntervalMs: number;
  /**
   * History events after which a run with deaneries still failing continues as new at its next round,
   * carrying its status: in observed mode each read of the store costs events, and an exporter down for a
   * day would otherwise take the run towards Temporal's 51,200-event limit.
   */
  historyEventsBeforeContinue: number;
}

export const DEFAULT_ESR_TIMINGS: EsrTimings = {
  resendInitialMs: 30_000,
  resendMaxMs: 300_000,
  // 30 + 60 + 120 s: a deanery whose exporter never answers is alerted 3.5 min into its turn (4 publishes took 7.5 min).
  attemptsPerRound: 3,
  roundPauseMs: 600_000,
  maxPasses: 3,
  observeIntervalMs: 5_000,
  historyEventsBeforeContinue: 10_000,
};

/**
 * Every problem with what a run is asked for (empty when there is none): the one check of a run date,
 * deaneries and timings, made by the client API before it starts anything and by the request workflow
 * on a run started some other way.
 */
export function esrRunRequestProblems(request: { runDate: unknown; deaneries: unknown; acknowledgement?: unknown; timings?: Partial<Record<keyof EsrTimings, unknown>> | undefined }): string[] {
  const deaneries: unknown[] = Array.isArray(request.deaneries) ? request.deaneries : [];
  const unknown = deaneries.filter((d) => !isDeanery(d));
  return [
    !isRunDate(request.runDate) &&
      `runDate: ${typeof request.runDate !== 'string' ? 'expected string' : RUN_DATE_SHAPE.test(request.runDate) ? 'is not a real date' : 'must be a date YYYY-MM-DD'}; got ${JSON.stringify(request.runDate)}`,
    !Array.isArray(request.deaneries) ? `deaneries: must be a list of deanery codes; got ${JSON.stringify(request.deaneries)}` : deaneries.length === 0 && 'deaneries: name at least one deanery',
    unknown.length > 0 && `deaneries: unknown deanery ${unknown.map(String).join(', ')}; known: ${DEANERIES.join(', ')}`,
    request.acknowledgement !== undefined &&
      !(ESR_ACKNOWLEDGEMENT_MODES as readonly unknown[]).includes(request.acknowledgement) &&
      `acknowledgement: must be one of ${ESR_ACKNOWLEDGEMENT_MODES.join(', ')}; got ${JSON.stringify(request.acknowledgement)}`,
    ...Object.entries(request.timings ?? {}).map(([name, value]) => (!Number.isInteger(value) || (value as number) < 1) && `timings.${name}: must be a whole number of at least 1; got ${String(value)}`),
  ].filter((p): p is string => typeof p === 'string');
}

/** What a caller asks the lane for: one day's files for some deaneries. */
export interface EsrRunRequest {
  requestId: string;
  runDate: string;
  deaneries: Deanery[];
  timings: EsrTimings;
  /** What acknowledges each command; absent: reply (esrAcknowledgementOf). */
  acknowledgement?: EsrAcknowledgementMode;
  /** Workflow to signal with the outcome (a scheduled or requested run waiting for it). */
  notifyWorkflowId?: string;
  /** Set by the run itself when it continues as new: where it had got to. */
  resume?: EsrRunStatus;
}

export interface EsrDeaneryStatus {
  deanery: Deanery;
  stage: EsrDeaneryStage;
  /** Current pass (1 = first command of the day for this deanery). */
  pass: number;
  /** Publishes of commands for this deanery. */
  attempts: number;
  lastFailure: string | null;
  alerts: number;
  files: AppFileReply[];
}

export interface EsrRunStatus {
  requestId: string;
  runDate: string;
  /** What the run takes as each command's acknowledgement. */
  acknowledgement: EsrAcknowledgementMode;
  stage: EsrRunStage;
  deaneries: EsrDeaneryStatus[];
}

/** What the lane tells the requester when its run ended: the run's final status, or why it could not run. */
export interface EsrRunOutcome {
  requestId: string;
  status: EsrRunStatus | null;
  error: string | null;
}

/** Input of the request workflow (what the CLI and the Schedule start); the run date comes from the schedule when absent. */
export interface EsrRequestInput {
  requestId?: string;
  runDate?: string;
  deaneries?: string[];
  timings?: Partial<EsrTimings>;
  /** Absent: reply (esrAcknowledgementOf). */
  acknowledgement?: EsrAcknowledgementMode;
}

/** The lane's state, carried across continue-as-new. */
export interface EsrLaneState {
  queued: EsrRunRequest[];
  finished: number;
  /** Recently finished request ids, so that a repeated request is not run twice. */
  recent: string[];
}

export interface EsrLaneStatus {
  running: EsrRunRequest | null;
  queued: EsrRunRequest[];
  finished: number;
}

/** The one lane: a single long-lived workflow with this fixed id runs every ESR generation, one at a time. */
export const ESR_LANE_WORKFLOW_ID = 'esr-lane';
export const esrRunWorkflowId = (request: Pick<EsrRunRequest, 'runDate' | 'requestId'>): string => `esr-run-${request.runDate}-${request.requestId}`;
export const esrRequestWorkflowId = (requestId: string): string => `esr-request-${requestId}`;
/** The schedule's action: Temporal appends the scheduled time to this id. */
export const ESR_SCHEDULED_WORKFLOW_ID = 'esr-scheduled';
export const ESR_SCHEDULE_ID = 'esr-daily-app-files';

export const esrRunRequestSignal = defineSignal<[EsrRunRequest]>('esrRunRequest');
export const esrRunFinishedSignal = defineSignal<[EsrRunOutcome]>('esrRunFinished');
export const esrRunStatusQuery = defineQuery<EsrRunStatus>('esrRunStatus');
export const esrLaneStatusQuery = defineQuery<EsrLaneStatus>('esrLaneStatus');
