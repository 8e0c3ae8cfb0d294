/**
 * Schemas of every message that crosses a process boundary, checked where it comes in (client API,
 * receivers, acknowledgement listener). zod: one declaration gives the check, the TypeScript type and a
 * readable error path, where hand-written checks drift from the types. Not imported by workflow code.
 */
import { z } from 'zod';
import { COJ_VERSIONS } from './contract';

/** A TIS programme membership id: a UUID, or (older ones) a comma-joined list of numeric ids. */
export const programmeMembershipTisId = z
  .string()
  .regex(/^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\d{1,12}(,\d{1,12}){0,50})$/, 'must be a UUID or a comma-joined list of numeric ids');

/** A TIS person id, as TSS keys trainee profiles. */
export const traineeTisId = z.string().regex(/^\d{1,20}$/, 'must be a numeric TIS id');

/** An ISO-8601 instant with its zone, e.g. 2026-11-22T09:30:00Z. */
export const isoInstant = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/, 'must be an ISO-8601 instant with a zone, e.g. 2026-11-22T09:30:00Z')
  .refine((s) => !Number.isNaN(Date.parse(s)), 'is not a real date');

export const cojVersion = z.enum(COJ_VERSIONS, { error: `must be one of ${COJ_VERSIONS.join(', ')}` });

export const cojSignedEvent = z.object({
  programmeMembershipTisId,
  conditionsOfJoining: z.object({ signedAt: isoInstant, version: cojVersion, syncedAt: z.null() }),
});

/** A receiver's reply: `{ status: "ok", ...result }` or `{ status: "rejected", reason }`. */
export const reply = z.discriminatedUnion('status', [
  z.looseObject({ status: z.literal('ok') }),
  z.looseObject({ status: z.literal('rejected'), reason: z.string().min(1) }),
]);

/** One line per problem: "conditionsOfJoining.version: must be one of GG9, GG10, GG11". */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(message)'}: ${i.message}`).join('; ');
}

/** A calendar day, YYYY-MM-DD, that exists. */
export const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD')
  .refine((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s), 'is not a real date');

/**
 * The ESR app-file command. The deanery is only checked for shape here: an unknown code is a separate,
 * named rejection (the exporter says which codes it knows).
 */
export const appFileCommand = z.object({
  commandId: z.string().regex(/^[\w.:-]{1,200}$/, 'must be 1-200 letters, digits, _ . : or -'),
  deanery: z.string().regex(/^[A-Z]{3}$/, 'must be a three-letter deanery code, e.g. KSS'),
  runDate: isoDate,
});
