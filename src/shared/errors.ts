/**
 * Named errors, each with a fixed `name`, so that callers and Temporal retry policies can branch on the
 * type (`nonRetryableErrorTypes` lists names). Messages say what happened and what to do.
 */
export class TiswError extends Error {
  override readonly name: string = 'TiswError';
}

/** Input that can never be accepted as it is (a malformed id, an unknown version): say what, and fix it. */
export class InvalidInputError extends TiswError {
  override readonly name: string = 'InvalidInputError';
}

/** The broker answered a publish with basic.nack: it did not take responsibility for the message. */
export class PublishNackedError extends TiswError {
  override readonly name = 'PublishNackedError';
}

/** The broker returned a mandatory publish: no queue is bound for its routing key. */
export class PublishReturnedError extends TiswError {
  override readonly name = 'PublishReturnedError';
}

/** No confirm came within the timeout (broker slow, blocked by an alarm, or the connection is gone). */
export class PublishTimeoutError extends TiswError {
  override readonly name = 'PublishTimeoutError';
}

/** A database name that does not mark itself as a test one, where only a test one is allowed. */
export class NotATestDatabaseError extends TiswError {
  override readonly name = 'NotATestDatabaseError';
}
