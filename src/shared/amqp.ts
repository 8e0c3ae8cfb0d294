/**
 * The acknowledgement contract on the broker (design.md): the queues by role, dead-lettering, and a
 * receiver's reply as the acknowledgement listener hands it to the waiting workflow. Safe to import from
 * workflow code.
 */
import { defineSignal } from '@temporalio/workflow';

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

/** Every workflow that waits for a receiver handles this signal. */
export const acknowledgementSignal = defineSignal<[Acknowledgement]>('acknowledgement');
