/**
 * The CoJ client API: what TIS Self-Service calls after saving a signature (submitCoj), and what the
 * CLI, the reconciliation and `tisw coj resend` use. Input is checked in full before anything starts.
 *
 * One workflow per programme membership (id coj-<id>):
 *   - none yet, or the last one closed with an older signature: start one (signal-with-start, so two
 *     racing submits end in one run);
 *   - one running: send it the signature; it takes a newer one and ignores the same or an older one;
 *   - the last one closed with this same signature (delivered, or rejected by TIS): nothing starts.
 */
import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { Config } from '../config/config';
import {
  cojSignatureSignal,
  cojStatusQuery,
  cojWorkflowId,
  SEARCH_ATTRIBUTES,
  type CojSignature,
  type CojStatus,
  type CojTimings,
} from '../shared/contract';
import { cojVersion, describeIssues, isoInstant, programmeMembershipTisId, traineeTisId } from '../shared/messages';
import { InvalidInputError, TiswError } from '../shared/errors';
import { cojSubmissionWorkflow } from '../workflows/coj-submission.workflow';
import { z } from 'zod';

export class InvalidCojError extends InvalidInputError {
  override readonly name = 'InvalidCojError';
}

export class CojNotFoundError extends TiswError {
  override readonly name = 'CojNotFoundError';
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

/** Where and how CoJ submissions start: the task queue, and the timings each run gets. */
export interface CojSettings {
  taskQueue: string;
  timings: CojTimings;
}

export function cojSettings(config: Config): CojSettings {
  const { slaMs, resendInitialMs, resendMaxMs } = config.coj;
  return { taskQueue: config.temporal.taskQueue, timings: { slaMs, resendInitialMs, resendMaxMs: Math.max(resendMaxMs, resendInitialMs) } };
}

export type SubmitOutcome = 'started' | 'sent-to-running' | 'already-submitted';

export interface SubmitResult {
  workflowId: string;
  outcome: SubmitOutcome;
}

export async function submitCoj(client: Client, { taskQueue, timings }: CojSettings, input: unknown): Promise<SubmitResult> {
  const signature = validateSignature(input);
  const workflowId = cojWorkflowId(signature.programmeMembershipTisId);
  const last = await describe(client, workflowId);
  if (last?.status.name === 'RUNNING') {
    try {
      await client.workflow.getHandle(workflowId).signal(cojSignatureSignal, signature);
      return { workflowId, outcome: 'sent-to-running' };
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err; // it closed in between: start a new one
    }
  } else if (last && lastSignedAt(last) !== undefined && Date.parse(lastSignedAt(last) as string) >= Date.parse(signature.signedAt)) {
    return { workflowId, outcome: 'already-submitted' };
  }
  await client.workflow.signalWithStart(cojSubmissionWorkflow, {
    workflowId,
    taskQueue,
    args: [{ signature, timings }],
    signal: cojSignatureSignal,
    signalArgs: [signature],
    memo: { signedAt: signature.signedAt },
    typedSearchAttributes: new TypedSearchAttributes([
      { key: SEARCH_ATTRIBUTES.programmeMembership, value: signature.programmeMembershipTisId },
      { key: SEARCH_ATTRIBUTES.trainee, value: signature.traineeTisId },
      { key: SEARCH_ATTRIBUTES.stage, value: 'publishing' },
    ]),
  });
  return { workflowId, outcome: 'started' };
}

/** The run's own state (running or closed), through its status query. */
export async function cojStatus(client: Client, programmeMembershipId: string): Promise<CojStatus & { workflowId: string; runStatus: string }> {
  const workflowId = cojWorkflowId(programmeMembershipId);
  const last = await describe(client, workflowId);
  if (!last) throw new CojNotFoundError(`no CoJ submission for programme membership ${programmeMembershipId} (workflow ${workflowId})`);
  const status = await client.workflow.getHandle(workflowId).query(cojStatusQuery);
  return { workflowId, runStatus: last.status.name, ...status };
}

export interface EnsureProgress {
  (signature: CojSignature, outcome: SubmitOutcome | 'invalid'): void;
}

/**
 * Makes sure each signature has a submission workflow (reconciliation, `tisw coj resend`). Returns what
 * happened to each; a signature that fails validation is reported, not thrown, so one bad record in
 * TSS's store does not stop the rest.
 */
export async function ensureSubmitted(client: Client, settings: CojSettings, signatures: CojSignature[], onEach?: EnsureProgress): Promise<Array<{ signature: CojSignature; outcome: SubmitOutcome | 'invalid'; error?: string }>> {
  const results: Array<{ signature: CojSignature; outcome: SubmitOutcome | 'invalid'; error?: string }> = [];
  for (const signature of signatures) {
    try {
      const { outcome } = await submitCoj(client, settings, signature);
      results.push({ signature, outcome });
      onEach?.(signature, outcome);
    } catch (err) {
      if (!(err instanceof InvalidCojError)) throw err;
      results.push({ signature, outcome: 'invalid', error: err.message });
      onEach?.(signature, 'invalid');
    }
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

function lastSignedAt(description: WorkflowExecutionDescription): string | undefined {
  const signedAt = description.memo?.signedAt;
  return typeof signedAt === 'string' ? signedAt : undefined;
}
