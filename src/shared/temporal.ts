/**
 * What every role names in Temporal: the task queue and the custom search attributes an operator filters
 * on (in the Temporal UI and `tisw stuck`). Safe to import from workflow code: no I/O, no Node built-ins.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** The task queue tis-workflows' workers poll, unless TEMPORAL_TASK_QUEUE says otherwise. */
export const TASK_QUEUE = 'tis-workflows';

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
