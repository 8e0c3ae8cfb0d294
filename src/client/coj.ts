/**
 * The CoJ client API: what TIS Self-Service calls after saving a signature (submitCoj), and what the
 * CLI, the reconciliation and `tisw coj resend` use. Input is checked in full before anything starts.
 *
 * One workflow per programme membership (id coj-<id>), reached with one signal-with-start call:
 *   - none running: one starts; two racing submits end in one run;
 *   - one running: it gets the signature, takes a newer one and ignores the same or an older one;
 *   - the last run closed (delivered, or rejected by TIS): the server refuses a new run
 *     (REJECT_DUPLICATE), and a new one starts only if this signature is newer than that run's.
 * The common case costs one call to Temporal: submission is on TSS's path and in every burst.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import { TypedSearchAttributes, WorkflowIdReusePolicy } from '@temporalio/common';
import type { Config } from '../config/config';
import { cojSignatureSignal, cojStatusQuery, cojWorkflowId, type CojAcknowledgementMode, type CojSignature, type CojStage, type CojStatus, type CojTimings } from '../shared/coj';
import { SEARCH_ATTRIBUTES } from '../shared/temporal';
import { cojVersion, describeIssues, isoInstant, programmeMembershipTisId, traineeTisId } from '../shared/messages';
import { InvalidInputError, TiswError } from '../shared/errors';
import { cojSubmissionWorkflow } from '../workflows/coj-submission.workflow';
import { z } from 'zod';

export class InvalidCojError extends InvalidInputError {
  static override readonly type = 'InvalidCojError';
  override readonly name = InvalidCojError.type;
}

export class CojNotFoundError extends TiswError {
  static override readonly type = 'CojNotFoundError';
  override readonly name = CojNotFoundError.type;
}

/** Signatures more than this far in the future are refused (clock skew between TSS and us is allowed). */
const FUTURE_TOLERANCE_MS = 5 * 60_000;

const signatureSchema = z.object({ programmeMembershipTisId, traineeTisId, signedAt: isoInstant, version: cojVersion });

/** Checks a signature fully; throws InvalidCojError listing every problem. Returns it normalised. */
export function validateSignature(input: unknown, now = Date.now()): CojSignature {
  const parsed = signatureSchema.safeParse(input);
  if (!parsed.success) throw new InvalidCojError(`invalid CoJ signature: ${describeIssues(parsed.error)}`);
  const signedAt = new Date(parsed.data.signedAt);
  if (signedAt.getTime() > now + FUTURE_TOLERANCE_MS) throw new InvalidCojError(`invalid CoJ signature: signedAt ${parsed.data.signedAt} is in the future`);
  return { ...parsed.data, signedAt: signedAt.toISOString() };
}

/** Where and how CoJ submissions start: the task queue, what acknowledges a CoJ, and the timings each run gets. */
export interface CojSettings {
  taskQueue: string;
  acknowledgement: CojAcknowledgementMode;
  timings: CojTimings;
}

export function cojSettings(config: Config): CojSettings {
  const { slaMs, resendInitialMs, resendMaxMs, acknowledgement } = config.coj;
  return { taskQueue: config.temporal.taskQueue, acknowledgement, timings: { slaMs, resendInitialMs, resendMaxMs: Math.max(resendMaxMs, resendInitialMs) } };
}

/** submitted: a run has it now (started, or sent to the running one); already-submitted: a closed run had it. */
export type SubmitOutcome = 'submitted' | 'already-submitted';

export interface SubmitResult {
  workflowId: string;
  outcome: SubmitOutcome;
}

export async function submitCoj(client: Client, settings: CojSettings, input: unknown): Promise<SubmitResult> {
  const signature = validateSignature(input);
  const workflowId = cojWorkflowId(signature.programmeMembershipTisId);
  try {
    await signalWithStart(client, settings, signature, WorkflowIdReusePolicy.REJECT_DUPLICATE);
    return { workflowId, outcome: 'submitted' };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  // A closed run exists. Deliver this signature only if it is newer than the one that run had.
  const last = await describe(client, workflowId);
  const lastSignedAt = typeof last?.memo?.signedAt === 'string' ? last.memo.signedAt : undefined;
  if (last?.status.name !== 'RUNNING' && lastSignedAt !== undefined && Date.parse(lastSignedAt) >= Date.parse(signature.signedAt)) {
    return { workflowId, outcome: 'already-submitted' };
  }
  await signalWithStart(client, settings, signature, WorkflowIdReusePolicy.ALLOW_DUPLICATE);
  return { workflowId, outcome: 'submitted' };
}

function signalWithStart(client: Client, { taskQueue, timings, acknowledgement }: CojSettings, signature: CojSignature, workflowIdReusePolicy: WorkflowIdReusePolicy) {
  return client.workflow.signalWithStart(cojSubmissionWorkflow, {
    workflowId: cojWorkflowId(signature.programmeMembershipTisId),
    taskQueue,
    workflowIdReusePolicy,
    args: [{ signature, timings, acknowledgement }],
    signal: cojSignatureSignal,
    signalArgs: [signature],
    ...cojRunVisibility(signature, 'publishing'),
  });
}

/**
 * What visibility shows of a CoJ run from its start: the signature in its memo, and the search attributes
 * the sync watcher, `tisw stuck` and the Temporal UI filter on. The run updates TisStage as it goes.
 */
export function cojRunVisibility(signature: CojSignature, stage: CojStage): { memo: { signedAt: string }; typedSearchAttributes: TypedSearchAttributes } {
  return {
    memo: { signedAt: signature.signedAt },
    typedSearchAttributes: new TypedSearchAttributes([
      { key: SEARCH_ATTRIBUTES.programmeMembership, value: signature.programmeMembershipTisId },
      { key: SEARCH_ATTRIBUTES.trainee, value: signature.traineeTisId },
      { key: SEARCH_ATTRIBUTES.stage, value: stage },
    ]),
  };
}

/** The run's own state (running or closed), through its status query. */
export async function cojStatus(client: Client, programmeMembershipId: string): Promise<CojStatus & { workflowId: string; runStatus: string }> {
  const workflowId = cojWorkflowId(programmeMembershipId);
  const last = await describe(client, workflowId);
  if (!last) throw new CojNotFoundError(`no CoJ submission for programme membership ${programmeMembershipId} (workflow ${workflowId})`);
  const status = await client.workflow.getHandle(workflowId).query(cojStatusQuery);
  return { workflowId, runStatus: last.status.name, ...status };
}

/**
 * What making sure found: started (it had no workflow: the gap reconciliation exists for), in-flight (a
 * run is delivering it), already-submitted (a closed run had it: delivered, or rejected by TIS),
 * resubmitted (the closed run had an older signature), invalid (the record cannot be submitted as it is).
 */
export type EnsureOutcome = 'started' | 'in-flight' | 'already-submitted' | 'resubmitted' | 'invalid';

export interface EnsureResult {
  signature: CojSignature;
  outcome: EnsureOutcome;
  error?: string;
}

/**
 * Makes sure each signature has a submission workflow (reconciliation, `tisw coj resend`), saying for
 * each what it found. A signature that fails validation is reported, not thrown, so one bad record in
 * TSS's store does not stop the rest.
 */
export async function ensureSubmitted(client: Client, settings: CojSettings, signatures: CojSignature[], onEach?: (result: EnsureResult) => void): Promise<EnsureResult[]> {
  const results: EnsureResult[] = [];
  for (const signature of signatures) {
    let result: EnsureResult;
    try {
      const before = await describe(client, cojWorkflowId(signature.programmeMembershipTisId));
      const { outcome } = await submitCoj(client, settings, signature);
      result = { signature, outcome: outcome === 'already-submitted' ? 'already-submitted' : !before ? 'started' : before.status.name === 'RUNNING' ? 'in-flight' : 'resubmitted' };
    } catch (err) {
      if (!(err instanceof InvalidCojError)) throw err;
      result = { signature, outcome: 'invalid', error: err.message };
    }
    results.push(result);
    onEach?.(result);
  }
  return results;
}

async function describe(client: Client, workflowId: string): Promise<WorkflowExecutionDescription | undefined> {
  try {
    return await client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}
