/**
 * CoJ submission: a signature as TSS saves it, the event TCS consumes, TIS's reply, the workflow's
 * input, timings, status, ids, signal and query, TIS's COJ_RECEIVED, and TIS's collection names. Safe to import from
 * workflow code.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Acknowledgement } from './amqp';
import { ISO_INSTANT, isRealInstant } from './dates';

/** The Gold Guide versions TSS knows (domain.md); the last is the latest. The one place they are listed. */
export const COJ_VERSIONS = ['GG9', 'GG10'] as const;

/**
 * What acknowledges a CoJ (design.md, "Two ways a job is acknowledged"):
 *   - synced: TSS's own profile shows this signature synced back by TIS (same signedAt, syncedAt set),
 *     as TIS runs today; read by the cluster's one sync watcher;
 *   - reply: the receiver's reply on the acknowledgement contract.
 */
export const COJ_ACKNOWLEDGEMENT_MODES = ['synced', 'reply'] as const;
export type CojAcknowledgementMode = (typeof COJ_ACKNOWLEDGEMENT_MODES)[number];

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

/**
 * TIS's broadcast once a CoJ is first synced back onto TSS's profile (tis-trainee-details' `COJ_RECEIVED`;
 * published by the reference TIS sync to COJ_RECEIVED_QUEUE when set; JSON, persistent, confirmed).
 * The schema that checks it where it comes in: shared/messages.ts, cojReceivedEvent.
 */
export interface CojReceivedEvent {
  event: 'COJ_RECEIVED';
  traineeTisId: string;
  programmeMembershipTisId: string;
  /** ISO-8601 instants. */
  conditionsOfJoining: { signedAt: string; version: CojVersion; syncedAt: string };
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
  /** What acknowledges this CoJ. Absent in runs started before the modes existed (recorded histories): reply. */
  acknowledgement?: CojAcknowledgementMode;
}

/** What `tisw coj status` prints: the workflow's whole state. */
export interface CojStatus {
  programmeMembershipTisId: string;
  traineeTisId: string;
  signedAt: string;
  version: CojVersion;
  stage: CojStage;
  /** What this run waits for: TSS's profile synced back by TIS, or the receiver's reply. */
  acknowledgementMode: CojAcknowledgementMode;
  /** How this CoJ was acknowledged (null until it is): `synced` (seen synced in TSS's store or by COJ_RECEIVED) or `reply`. */
  acknowledgement: CojAcknowledgementMode | null;
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

/**
 * TIS's store (the reference receiver and the reference TIS sync): programme memberships and their CoJ, keyed
 * by programme membership id; the sync's own record of each CoJ it copied to TSS (tis-trainee-sync's), and
 * its position. (TSS's collection is configured: TSS_PROFILES_COLLECTION.)
 */
export const TIS_COLLECTIONS = { programmeMemberships: 'programmeMemberships', syncedCojs: 'traineeSyncCojs', syncPosition: 'traineeSyncPosition' } as const;

/**
 * Where a `synced` acknowledgement came from (its `result.source`): the sync watcher's read of TSS's
 * store, or TIS's COJ_RECEIVED event. A rejection dead-lettered by TCS comes from `tcs-rejections`.
 */
export type CojSyncSource = 'tss-store' | 'coj-received' | 'tcs-rejections';

/** The cluster's one sync watcher (src/workflows/coj-sync-watcher.workflow.ts), in `synced` mode. */
export const COJ_SYNC_WATCHER_WORKFLOW_ID = 'tisw-coj-sync-watcher';

/** The watcher's settings, passed in at start (and carried across continue-as-new). */
export interface CojSyncWatcherSettings {
  intervalMs: number;
}

/** What one round of the watcher saw and did. */
export interface CojSyncRound {
  /** CoJ runs waiting for their acknowledgement (a visibility listing). */
  waiting: number;
  /** Of those, the ones TSS's profile shows synced, each handed to its run. */
  handedOver: number;
  /** Profiles read from TSS's store, in how many batches. */
  profilesRead: number;
  batches: number;
  /** The round's time, and its parts: the visibility listing, TSS's store, the signals. */
  ms: number;
  listMs: number;
  readMs: number;
  signalMs: number;
}

/**
 * Whether TSS's CoJ of a programme membership shows this signature synced back by TIS (domain.md): the
 * same `signedAt`, and a `syncedAt` (perhaps an earlier signature's: a re-sign keeps the first one).
 */
export function showsSynced(coj: { signedAt: string; syncedAt: string | null }, signedAt: string): coj is { signedAt: string; syncedAt: string } {
  return coj.syncedAt !== null && Date.parse(coj.signedAt) === Date.parse(signedAt);
}

/** The acknowledgement a run takes for its signature synced back by TIS, whichever way it learnt of it. */
export function syncedAcknowledgement(run: { programmeMembershipTisId: string; signedAt: string }, syncedAt: string, source: CojSyncSource): Acknowledgement {
  return { status: 'ok', result: { programmeMembershipTisId: run.programmeMembershipTisId, signedAt: run.signedAt, syncedAt, source } };
}

/** Whether a CoJ reply answers this signature (not a late reply for an older or newer one of the same programme membership). */
export function acknowledgesSignature(acknowledgement: Acknowledgement, signature: Pick<CojSignature, 'signedAt'>): boolean {
  const signedAt = acknowledgement.result.signedAt;
  return signedAt !== undefined && Date.parse(String(signedAt)) === Date.parse(signature.signedAt);
}
