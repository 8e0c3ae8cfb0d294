/**
 * Named errors. Each class states its `type` once: the name it is thrown with, and the failure type
 * Temporal reports for it (an error thrown in an activity becomes a failure of type `err.name`; a workflow
 * fails with `SomeError.failure(...)`, of type `SomeError.type`). Callers, retry policies
 * (`nonRetryableErrorTypes: [SomeError.type]`) and tests name that constant, never the string.
 * Messages say what happened and what to do.
 */
import { ApplicationFailure } from '@temporalio/common';

export class TiswError extends Error {
  static readonly type: string = 'TiswError';
  override readonly name: string = TiswError.type;

  /**
   * The failure a workflow ends with for this error, never retried. Workflow code throws this, not the
   * error itself: any other error thrown from a workflow fails only its workflow task, which Temporal
   * retries forever.
   */
  static failure(this: { readonly type: string }, message: string, details?: unknown[]): ApplicationFailure {
    return ApplicationFailure.create({ type: this.type, nonRetryable: true, message, ...(details && { details }) });
  }
}

/** Input that can never be accepted as it is (a malformed id, an unknown version): say what, and fix it. */
export class InvalidInputError extends TiswError {
  static override readonly type: string = 'InvalidInputError';
  override readonly name: string = InvalidInputError.type;
}

/** TIS answered a CoJ with "rejected": it will never accept that signature as it is. */
export class CojRejectedError extends TiswError {
  static override readonly type = 'CojRejectedError';
  override readonly name = CojRejectedError.type;
}

/** An ESR run requested through the lane ended without its files (the lane reports why). */
export class EsrRunFailedError extends TiswError {
  static override readonly type = 'EsrRunFailedError';
  override readonly name = EsrRunFailedError.type;
}

/** The broker answered a publish with basic.nack: it did not take responsibility for the message. */
export class PublishNackedError extends TiswError {
  static override readonly type = 'PublishNackedError';
  override readonly name = PublishNackedError.type;
}

/** The broker returned a mandatory publish: no queue is bound for its routing key. */
export class PublishReturnedError extends TiswError {
  static override readonly type = 'PublishReturnedError';
  override readonly name = PublishReturnedError.type;
}

/** No confirm came within the timeout (broker slow, blocked by an alarm, or the connection is gone). */
export class PublishTimeoutError extends TiswError {
  static override readonly type = 'PublishTimeoutError';
  override readonly name = PublishTimeoutError.type;
}

/** A database name that does not mark itself as a test one, where only a test one is allowed. */
export class NotATestDatabaseError extends TiswError {
  static override readonly type = 'NotATestDatabaseError';
  override readonly name = NotATestDatabaseError.type;
}

/**
 * A TSS profile was saved by someone else (TSS, under its optimistic lock) at every try of a write of ours:
 * retryable; the next attempt reads it again.
 */
export class ProfileKeptChangingError extends TiswError {
  static override readonly type = 'ProfileKeptChangingError';
  override readonly name = ProfileKeptChangingError.type;
}
