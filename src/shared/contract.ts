/**
 * The contract every role imports: task queue, workflow ids, queue names, message shapes, search
 * attributes. Safe to import from workflow code: no I/O, no Node built-ins.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { ISO_INSTANT, isRealInstant, isRunDate, RUN_DATE_SHAPE } from './dates';

/** The task queue tis-workflows' workers poll, unless TEMPORAL_TASK_QUEUE says otherwise. */
export const TASK_QUEUE = 'tis-workflows';

/** Queues on the broker, by role. Declared in one place: src/adapters/amqp-topology.ts. */
export const QUEUES = {
  /** The foundation's end-to-end probe: proves publish-with-confirms and the Mongo write. */
  probe: 'tisw.queue.probe',
  /** Signed CoJs, TSS -> TIS-TCS (the queue TIS already uses). */
  cojSigned: 'trainee.queue.coj.signed.tcs',
  /** ESR app-file generation commands -> the ESR data exporter (the queue TIS already uses). */
  esrAppFileCommand: 'esr.queue.appfilegenerationcommand.create.dataexporter',
  /** Every receiver's replies; consumed by the acknowledgement listener in each worker. */
  acknowledgement: 'tisw.queue.acknowledgement',
  /** Tiny expiring messages that check whether the broker lets us publish (`tisw stuck`, monitors). */
  brokerCheck: 'tisw.queue.broker-check',
} as const;

/** Where a consumer puts a message it can never process, with the reason in a header. */
export const deadLetterQueue = (queue: string): string => `${queue}.dead-letter`;

/** Header naming why a message was dead-lettered. */
export const DEAD_LETTER_REASON_HEADER = 'x-tisw-dead-letter-reason';

/**
 * A receiver's reply, as the acknowledgement listener hands it to the waiting workflow (the AMQP
 * message's correlationId is that workflow's id). `result` is the reply body without its status.
 */
export type Acknowledgement =
  | { status: 'ok'; result: Record<string, unknown> }
  | { status: 'rejected'; reason: string; result: Record<string, unknown> };

/** Whether a CoJ reply answers this signature (not a late reply for an older or newer one of the same programme membership). */
export function acknowledgesSignature(acknowledgement: Acknowledgement, signature: Pick<CojSignature, 'signedAt'>): boolean {
  const signedAt = acknowledgement.result.signedAt;
  return signedAt !== undefined && Date.parse(String(signedAt)) === Date.parse(signature.signedAt);
}

/** Every workflow that waits for a receiver handles this signal. */
export const acknowledgementSignal = defineSignal<[Acknowledgement]>('acknowledgement');

/**
 * Custom search attributes: what an operator filters on in the Temporal UI and in `tisw stuck`.
 * Registered at start-up by ensureSearchAttributes (src/adapters/temporal.ts).
 */
export const SEARCH_ATTRIBUTES = {
  stage: defineSearchAttributeKey('TisStage', SearchAttributeType.KEYWORD),
  programmeMembership: defineSearchAttributeKey('TisProgrammeMembership', SearchAttributeType.KEYWORD),
  trainee: defineSearchAttributeKey('TisTrainee', SearchAttributeType.KEYWORD),
  deanery: defineSearchAttributeKey('TisDeanery', SearchAttributeType.KEYWORD),
  runDate: defineSearchAttributeKey('TisRunDate', SearchAttributeType.KEYWORD),
} as const;

/** The probe: one message published with confirms and one document written, read back by the caller. */
export interface ProbeInput {
  probeId: string;
}

export interface ProbeMessage {
  probeId: string;
  publishedAt: string;
}

export interface ProbeResult {
  probeId: string;
  queue: string;
  messageId: string;
  recordedAt: string;
}

export const probeWorkflowId = (probeId: string): string => `probe-${probeId}`;

/** Where the probe writes, in the TSS store's database (the orchestrator's side). */
export const PROBE_COLLECTION = 'deliveryProbes';

// ---------------------------------------------------------------------------------------------------
// CoJ submission

export const COJ_VERSIONS = ['GG9', 'GG10', 'GG11'] as const;

/** A TIS programme membership id: a UUID, or (older ones) a comma-joined list of numeric ids. */
export const PROGRAMME_MEMBERSHIP_TIS_ID = /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\d{1,12}(,\d{1,12}){0,50})$/;
/** A TIS person id, as TSS keys trainee profiles. */
export const TRAINEE_TIS_ID = /^\d{1,20}$/;
export type CojVersion = (typeof COJ_VERSIONS)[number];

/**
 * Every problem with a signature (empty when there is none), by the same rules as the client API's
 * schema (shared/messages.ts builds it from the same patterns): what the workflow checks of a run
 * started without the client.
 */
export function cojSignatureProblems(s: Partial<Record<keyof CojSignature, unknown>> | undefined): string[] {
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  return [
    !PROGRAMME_MEMBERSHIP_TIS_ID.test(text(s?.programmeMembershipTisId)) && 'programmeMembershipTisId: must be a UUID or a comma-joined list of numeric ids',
    !TRAINEE_TIS_ID.test(text(s?.traineeTisId)) && 'traineeTisId: must be a numeric TIS id',
    !(ISO_INSTANT.test(text(s?.signedAt)) && isRealInstant(text(s?.signedAt))) && 'signedAt: must be an ISO-8601 instant with a zone, on a day and at a time that exist',
    !(COJ_VERSIONS as readonly unknown[]).includes(s?.version) && `version: must be one of ${COJ_VERSIONS.join(', ')}`,
  ].filter((p): p is string => typeof p === 'string');
}

/** A signature as TSS saved it: what `submitCoj` takes. */
export interface CojSignature {
  programmeMembershipTisId: string;
  traineeTisId: string;
  /** ISO-8601 instant. */
  signedAt: string;
  version: CojVersion;
}

/** The event on trainee.queue.coj.signed.tcs: TSS's shape, unchanged. */
export interface CojSignedEvent {
  programmeMembershipTisId: string;
  conditionsOfJoining: { signedAt: string; version: CojVersion; syncedAt: null };
}

/** TIS's reply body on success (status "ok"). */
export interface CojReceivedReply {
  programmeMembershipTisId: string;
  signedAt: string;
  version: CojVersion;
}

export type CojStage = 'publishing' | 'awaiting-acknowledgement' | 'acknowledged' | 'rejected';

/** Timing settings, passed in at start so that the workflow stays deterministic and tests can shorten them. */
export interface CojTimings {
  /** After this long without an acknowledgement the CoJ is late: one alert, and it keeps going. */
  slaMs: number;
  /** First wait for an acknowledgement before publishing again; doubles up to resendMaxMs. */
  resendInitialMs: number;
  resendMaxMs: number;
}

export interface CojSubmissionInput {
  signature: CojSignature;
  timings: CojTimings;
}

/** What `tisw coj status` prints: the workflow's whole state. */
export interface CojStatus {
  programmeMembershipTisId: string;
  traineeTisId: string;
  signedAt: string;
  version: CojVersion;
  stage: CojStage;
  /** Publishes of the current signature that the broker confirmed or failed. */
  attempts: number;
  lastFailure: string | null;
  startedAt: string;
  lastPublishedAt: string | null;
  acknowledgedAt: string | null;
  syncedAt: string | null;
  lateAlertRaisedAt: string | null;
  rejectionReason: string | null;
  /** Earlier signatures of this programme membership that a newer one superseded in this run. */
  superseded: string[];
}

export const cojWorkflowId = (programmeMembershipTisId: string): string => `coj-${programmeMembershipTisId}`;
/** Stable across resends of one signature; a newer signature gets a new one. */
export const cojMessageId = (s: Pick<CojSignature, 'programmeMembershipTisId' | 'signedAt'>): string =>
  `coj-${s.programmeMembershipTisId}-${Date.parse(s.signedAt)}`;

/** Sent by a later submission of the same programme membership (signal-with-start). */
export const cojSignatureSignal = defineSignal<[CojSignature]>('cojSignature');
export const cojStatusQuery = defineQuery<CojStatus>('cojStatus');

/** TSS's store: trainee profiles, each with its programme memberships and their CoJ. */
export const TSS_COLLECTIONS = { traineeProfiles: 'traineeProfiles' } as const;
/** TIS's store (reference receiver): programme memberships and their CoJ, keyed by programme membership id. */
export const TIS_COLLECTIONS = { programmeMemberships: 'programmeMemberships' } as const;

// ---------------------------------------------------------------------------------------------------
// The system monitor

export const MONITOR_WORKFLOW_ID = 'tisw-system-monitor';

export interface MonitorSettings {
  intervalMs: number;
  idleAfterMs: number;
  ackBacklog: number;
  /** The queues watched for idleness. */
  queues: string[];
  /** For the tisw_cojs_past_sla gauge. */
  cojSlaMs: number;
}

/** One look at the broker, as the monitor's activity returns it. */
export interface Observation {
  reachable: boolean;
  error?: string;
  blocked?: string;
  queues: Array<{ queue: string; ready: number; consumers: number; missing?: true }>;
}

/** A condition the monitor is in an episode of, keyed e.g. "queue-idle:trainee.queue.coj.signed.tcs". */
export interface MonitorEpisode {
  key: string;
  since: string;
  alerted: boolean;
}

export interface MonitorState {
  settings: MonitorSettings;
  /** Conditions seen, with when they began; alerted once they held long enough. */
  episodes: MonitorEpisode[];
  /** Last seen ready count per queue, for "no progress". */
  lastReady: Record<string, number>;
}

// ---------------------------------------------------------------------------------------------------
// ESR app files

/** The 13 ESR deanery codes, in the order TIS's daily runs used them (domain.md, July 2021). */
export const DEANERIES = ['EMD', 'KSS', 'NTH', 'WMD', 'PEN', 'NWN', 'YHD', 'EOE', 'OXF', 'WES', 'LDN', 'MER', 'SEV'] as const;
export type Deanery = (typeof DEANERIES)[number];
export const isDeanery = (code: unknown): code is Deanery => (DEANERIES as readonly unknown[]).includes(code);

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
}

export const DEFAULT_ESR_TIMINGS: EsrTimings = {
  resendInitialMs: 30_000,
  resendMaxMs: 300_000,
  // 30 + 60 + 120 s: a deanery whose exporter never answers is alerted 3.5 min into its turn (4 publishes took 7.5 min).
  attemptsPerRound: 3,
  roundPauseMs: 600_000,
  maxPasses: 3,
};

/**
 * Every problem with what a run is asked for (empty when there is none): the one check of a run date,
 * deaneries and timings, made by the client API before it starts anything and by the request workflow
 * on a run started some other way.
 */
export function esrRunRequestProblems(request: { runDate: unknown; deaneries: unknown; timings?: Partial<Record<keyof EsrTimings, unknown>> | undefined }): string[] {
  const deaneries: unknown[] = Array.isArray(request.deaneries) ? request.deaneries : [];
  const unknown = deaneries.filter((d) => !isDeanery(d));
  return [
    !isRunDate(request.runDate) &&
      `runDate: ${typeof request.runDate !== 'string' ? 'expected string' : RUN_DATE_SHAPE.test(request.runDate) ? 'is not a real date' : 'must be a date YYYY-MM-DD'}; got ${JSON.stringify(request.runDate)}`,
    !Array.isArray(request.deaneries) ? `deaneries: must be a list of deanery codes; got ${JSON.stringify(request.deaneries)}` : deaneries.length === 0 && 'deaneries: name at least one deanery',
    unknown.length > 0 && `deaneries: unknown deanery ${unknown.map(String).join(', ')}; known: ${DEANERIES.join(', ')}`,
    ...Object.entries(request.timings ?? {}).map(([name, value]) => (!Number.isInteger(value) || (value as number) < 1) && `timings.${name}: must be a whole number of at least 1; got ${String(value)}`),
  ].filter((p): p is string => typeof p === 'string');
}

/** What a caller asks the lane for: one day's files for some deaneries. */
export interface EsrRunRequest {
  requestId: string;
  runDate: string;
  deaneries: Deanery[];
  timings: EsrTimings;
  /** Workflow to signal with the outcome (a scheduled or requested run waiting for it). */
  notifyWorkflowId?: string;
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
