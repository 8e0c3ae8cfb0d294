/**
 * One signed CoJ, from TSS to TIS, until TIS acknowledges it (design.md, "CoJ delivery"):
 *   publish (confirmed by the broker; retried with backoff until it is) ->
 *   wait for TIS's acknowledgement (a signal) ->
 *   none within the resend interval: publish again, the interval doubling up to a maximum, never giving up ->
 *   acknowledged: done; rejected: fail the run with TIS's reason, and alert.
 * What acknowledges it is the run's mode (design.md, "Two ways a job is acknowledged"):
 *   - synced (TIS as it runs today): TSS's profile shows this signature synced back by TIS; the cluster's
 *     sync watcher sees it and signals; TSS's store is only read, never written. A quick sync (seconds) is
 *     seen by the first publish while it waits in the worker (WorkerSyncs), and the run goes straight on;
 *   - reply: the receiver's reply, handed over by the acknowledgement listener; then this run sets
 *     syncedAt in TSS's store, as COJ_RECEIVED did. The first publish usually brings the reply back with
 *     it (the worker waits a few seconds: WorkerReplies), and the run goes straight on in the same task.
 * Every wait also wakes at the SLA deadline: one alert when the CoJ is still unacknowledged then, and the
 * work goes on. (One timer at a time, rather than a separate SLA timer beside the resend timer: timers are
 * what the server persists, and this workflow runs thousands of times a day.)
 * One workflow per programme membership (id coj-<id>): a newer signature sent to a running one replaces
 * the older, which is then no longer awaited.
 */
import { log, proxyActivities, proxyLocalActivities, setHandler, upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { CojActivities } from '../activities/coj.activities';
import type { AlertActivities } from '../activities/alert.activities';
import { acknowledgementSignal, type Acknowledgement } from '../shared/amqp';
import { acknowledgesSignature, COJ_ACKNOWLEDGEMENT_MODES, cojSignatureProblems, cojSignatureSignal, cojStatusQuery, type CojSignature, type CojStage, type CojStatus, type CojSubmissionInput } from '../shared/coj';
import { SEARCH_ATTRIBUTES } from '../shared/temporal';
import { CojRejectedError, InvalidInputError } from '../shared/errors';
import { waitForSignal } from './wait';

// Publishing and the syncedAt write are local activities: each takes milliseconds, and running them in
// the worker within the workflow task saves two server round trips per CoJ (`tisw bench coj`: 0.66 x the
// one-activity workflow rate with ordinary activities; see the README for the figure with local ones).
// The workflow owns the publish retries (one attempt per call) so that it can count attempts and show
// the last failure in its status, which a hidden retry would not.
const { publishCojSigned } = proxyLocalActivities<CojActivities>({ startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 1 } });
const { recordCojSynced } = proxyLocalActivities<CojActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});
const { raiseAlert } = proxyActivities<AlertActivities>({ startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 5 } });

const PUBLISH_BACKOFF_INITIAL_MS = 1000;
const PUBLISH_BACKOFF_MAX_MS = 60_000;

export async function cojSubmissionWorkflow(input: CojSubmissionInput): Promise<CojStatus> {
  checkInput(input);
  const { timings } = input;
  const mode = input.acknowledgement ?? 'reply';
  let signature = input.signature;
  let acknowledgement: Acknowledgement | undefined;
  let newer: CojSignature | undefined;
  /** The acknowledgement came back with the publish (in the worker), which recorded syncedAt then (when it could). */
  let syncedWithPublish: string | undefined;

  const state: CojStatus = {
    ...pick(signature),
    stage: 'publishing',
    acknowledgementMode: mode,
    acknowledgement: null,
    attempts: 0,
    lastFailure: null,
    startedAt: new Date().toISOString(),
    lastPublishedAt: null,
    acknowledgedAt: null,
    syncedAt: null,
    lateAlertRaisedAt: null,
    rejectionReason: null,
    superseded: [],
  };

  setHandler(cojStatusQuery, () => state);
  setHandler(cojSignatureSignal, (s) => {
    // The same signature again (a repeated submit, reconciliation) changes nothing; an older one neither.
    if (s.programmeMembershipTisId === signature.programmeMembershipTisId && Date.parse(s.signedAt) > Date.parse((newer ?? signature).signedAt)) newer = s;
  });
  const takeAcknowledgement = (a: Acknowledgement): void => {
    // Late replies for a superseded signature, and duplicates, are ignored.
    if (acknowledgement === undefined && acknowledgesSignature(a, signature)) acknowledgement = a;
  };
  setHandler(acknowledgementSignal, takeAcknowledgement);

  // The client starts the run already showing 'publishing' (signal-with-start sets the search attributes),
  // so a stage is upserted only when it changes: one visibility write fewer per CoJ.
  let shownStage = workflowInfo().typedSearchAttributes.get(SEARCH_ATTRIBUTES.stage);
  const stage = (next: CojStage): void => {
    state.stage = next;
    if (next === shownStage) return;
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: next }]);
    shownStage = next;
  };
  const settled = (): boolean => acknowledgement !== undefined || newer !== undefined;

  for (;;) {
    if (newer) {
      state.superseded.push(signature.signedAt);
      signature = newer;
      newer = undefined;
      acknowledgement = undefined;
      syncedWithPublish = undefined;
      Object.assign(state, pick(signature), { attempts: 0, lastFailure: null, lastPublishedAt: null, lateAlertRaisedAt: null });
      // The client API reads the memo to tell a repeated submit of this signature from a newer one.
      upsertMemo({ signedAt: signature.signedAt });
      log.info('superseded by a newer signature', { signedAt: signature.signedAt });
    }

    stage('publishing');
    await publishUntilConfirmed();
    if (newer) continue;

    // Shown only when the run waits: a reply that came with the publish (or a signal during it) needs none.
    if (!settled()) stage('awaiting-acknowledgement');
    let resendAfter = timings.resendInitialMs;
    while (!settled()) {
      if (await waitUntilSettled(resendAfter)) break;
      log.info('no acknowledgement yet: publishing again', { waitedMs: resendAfter, attempts: state.attempts });
      resendAfter = Math.min(resendAfter * 2, timings.resendMaxMs);
      await publishUntilConfirmed();
    }
    if (newer) continue;

    const ack = acknowledgement as Acknowledgement;
    state.acknowledgedAt = new Date().toISOString();
    if (ack.status === 'rejected') {
      state.rejectionReason = ack.reason;
      stage('rejected');
      await raiseAlert({
        kind: 'coj-rejected',
        summary: `TIS rejected the CoJ of programme membership ${signature.programmeMembershipTisId}: ${ack.reason}`,
        details: alertDetails(signature),
      });
      throw CojRejectedError.failure(`TIS rejected the CoJ of programme membership ${signature.programmeMembershipTisId}: ${ack.reason}`, [state]);
    }

    if (mode === 'synced') {
      // TIS's own sync wrote syncedAt (it may be an earlier signature's: domain.md); nothing to write here.
      state.syncedAt = typeof ack.result.syncedAt === 'string' ? ack.result.syncedAt : null;
      state.acknowledgement = 'synced';
    } else {
      state.syncedAt = syncedWithPublish ?? (await recordCojSynced(signature, state.startedAt)).syncedAt;
      state.acknowledgement = 'reply';
      if (newer) continue; // a newer signature arrived while we recorded this one: deliver it too
    }
    stage('acknowledged');
    return state;
  }

  async function publishUntilConfirmed(): Promise<void> {
    let backoff = PUBLISH_BACKOFF_INITIAL_MS;
    for (;;) {
      state.attempts++;
      try {
        // The worker may wait for the acknowledgement (the reply, or the sync seen on TSS's profile), but not
        // past the first resend or the SLA deadline (see waitUntilSettled).
        const wait = { until: Math.min(Date.now() + timings.resendInitialMs, slaDeadline()), submissionStartedAt: state.startedAt };
        const published = await publishCojSigned(signature, workflowInfo().workflowId, { resend: state.attempts > 1, ...(mode === 'reply' ? { reply: wait } : { sync: wait }) });
        state.lastPublishedAt = published.publishedAt;
        if (published.acknowledgement) {
          takeAcknowledgement(published.acknowledgement); // a no-op if a signal brought one already
          if (acknowledgement === published.acknowledgement) syncedWithPublish = published.synced?.syncedAt;
        }
        return;
      } catch (err) {
        state.lastFailure = failureText(err);
        log.warn('publishing the CoJ failed; trying again', { attempts: state.attempts, error: state.lastFailure, retryInMs: backoff });
        if (await waitUntilSettled(backoff)) return;
        backoff = Math.min(backoff * 2, PUBLISH_BACKOFF_MAX_MS);
      }
    }
  }

  /**
   * Waits up to `ms` for an acknowledgement or a newer signature; true if one came. Wakes at the SLA
   * deadline of the current signature, if it falls inside, to raise the late alert (once per signature).
   */
  async function waitUntilSettled(ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    for (;;) {
      const deadline = slaDeadline();
      if (await waitForSignal(settled, Math.min(until, deadline) - Date.now())) return true;
      if (Date.now() >= deadline) await raiseLate();
      if (Date.now() >= until) return false;
    }
  }

  /** When the current signature becomes late, until its late alert is raised. */
  function slaDeadline(): number {
    return state.lateAlertRaisedAt === null ? Date.parse(signature.signedAt) + timings.slaMs : Infinity;
  }

  async function raiseLate(): Promise<void> {
    state.lateAlertRaisedAt = new Date().toISOString();
    await raiseAlert({
      kind: 'coj-late',
      summary: `the CoJ of programme membership ${signature.programmeMembershipTisId} signed ${signature.signedAt}, is not acknowledged by TIS after ${Math.round(timings.slaMs / 60_000)} min`,
      details: { ...alertDetails(signature), attempts: state.attempts, lastFailure: state.lastFailure, stage: state.stage },
    });
  }
}

/**
 * What an alert says about a CoJ: enough to find it (the programme membership id opens `tisw coj status`),
 * and no personal data (no trainee id): alerts go to logs and chat channels.
 */
function alertDetails(s: CojSignature): Record<string, unknown> {
  return { programmeMembershipTisId: s.programmeMembershipTisId, signedAt: s.signedAt, version: s.version };
}

function pick(s: CojSignature): Pick<CojStatus, 'programmeMembershipTisId' | 'traineeTisId' | 'signedAt' | 'version'> {
  return { programmeMembershipTisId: s.programmeMembershipTisId, traineeTisId: s.traineeTisId, signedAt: s.signedAt, version: s.version };
}

function failureText(err: unknown): string {
  const e = err as { cause?: { message?: string }; message?: string };
  return e.cause?.message ?? e.message ?? String(err);
}

/** The client API validates fully; this keeps a hand-started run from doing nonsense. */
function checkInput(input: CojSubmissionInput): void {
  const { signature: s, timings: t } = input;
  const problems = [
    ...cojSignatureProblems(s),
    !(t?.slaMs > 0 && t.resendInitialMs > 0 && t.resendMaxMs >= t.resendInitialMs) && 'timings are not valid',
    input.acknowledgement !== undefined && !(COJ_ACKNOWLEDGEMENT_MODES as readonly string[]).includes(input.acknowledgement) && `acknowledgement: must be one of ${COJ_ACKNOWLEDGEMENT_MODES.join(', ')}`,
  ].filter(Boolean);
  if (problems.length > 0) throw InvalidInputError.failure(`invalid CoJ submission: ${problems.join('; ')}`);
}

