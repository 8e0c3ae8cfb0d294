/**
 * The contract every role imports: task queue, workflow ids, queue names, message shapes, search
 * attributes. Safe to import from workflow code: no I/O, no Node built-ins.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** The one task queue tis-workflows' workers poll. */
export const TASK_QUEUE = 'tis-workflows';

/** Queues on the broker, by role. Declared in one place: src/adapters/amqp-topology.ts. */
export const QUEUES = {
  /** The foundation's end-to-end probe: proves publish-with-confirms and the Mongo write. */
  probe: 'tisw.queue.probe',
} as const;

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
