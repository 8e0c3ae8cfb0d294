/**
 * Schemas of every message that crosses a process boundary, checked where it comes in (client API,
 * receivers, acknowledgement listener). zod: one declaration gives the check, the TypeScript type and a
 * readable error path, where hand-written checks drift from the types. Not imported by workflow code.
 */
import { z } from 'zod';
import { COJ_VERSIONS, PROGRAMME_MEMBERSHIP_TIS_ID, TRAINEE_TIS_ID } from './coj';
import { ISO_INSTANT, isRealDay, isRealInstant, RUN_DATE_SHAPE } from './dates';

/** A TIS programme membership id: a UUID, or (older ones) a comma-joined list of numeric ids. */
export const programmeMembershipTisId = z
  .string()
  .regex(PROGRAMME_MEMBERSHIP_TIS_ID, 'must be a UUID or a comma-joined list of numeric ids');

/** A TIS person id, as TSS keys trainee profiles. */
export const traineeTisId = z.string().regex(TRAINEE_TIS_ID, 'must be a numeric TIS id');

/** An ISO-8601 instant with its zone, e.g. 2026-11-22T09:30:00Z, on a day and at a time that exist (dates.ts). */
export const isoInstant = z
  .string()
  .regex(ISO_INSTANT, { message: 'must be an ISO-8601 instant with a zone, e.g. 2026-11-22T09:30:00Z', abort: true })
  .refine(isRealInstant, 'is not a real date and time');

export const cojVersion = z.enum(COJ_VERSIONS, { error: `must be one of ${COJ_VERSIONS.join(', ')}` });

export const cojSignedEvent = z.object({
  programmeMembershipTisId,
  conditionsOfJoining: z.object({ signedAt: isoInstant, version: cojVersion, syncedAt: z.null() }),
});

/**
 * TIS's COJ_RECEIVED event, where TIS forwards it to an AMQP queue (COJ_RECEIVED_QUEUE): the CoJ as TIS
 * synced it back onto TSS's profile (CojReceivedEvent, shared/coj.ts, as the reference TIS sync publishes it).
 * Loose: TIS's own may carry more or other fields; only these are relied on.
 */
export const cojReceivedEvent = z.looseObject({
  event: z.literal('COJ_RECEIVED'),
  programmeMembershipTisId,
  conditionsOfJoining: z.looseObject({ signedAt: isoInstant, syncedAt: isoInstant }),
});

/** A receiver's refusal: `{ status: "rejected", reason }`, whatever the job. */
const rejection = z.looseObject({ status: z.literal('rejected'), reason: z.string().min(1) });

/**
 * TIS's reply to a CoJ event. An "ok" names the signature it stored: the workflow matches it against the
 * signature it waits for, so that a late reply for an older one is not taken for the current one.
 */
export const cojReply = z.discriminatedUnion('status', [
  z.looseObject({ status: z.literal('ok'), programmeMembershipTisId, signedAt: isoInstant, version: cojVersion }),
  rejection,
]);

/** One line per problem: "conditionsOfJoining.version: must be one of GG9, GG10". */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(message)'}: ${i.message}`).join('; ');
}

/** A calendar day, YYYY-MM-DD, that exists. */
export const isoDate = z
  .string()
  .regex(RUN_DATE_SHAPE, { message: 'must be a date YYYY-MM-DD', abort: true })
  .refine(isRealDay, 'is not a real date');

const commandId = z.string().regex(/^[\w.:-]{1,200}$/, 'must be 1-200 letters, digits, _ . : or -');
const deaneryCode = z.string().regex(/^[A-Z]{3}$/, 'must be a three-letter deanery code, e.g. KSS');

/**
 * The ESR app-file command. The deanery is only checked for shape here: an unknown code is a separate,
 * named rejection (the exporter says which codes it knows).
 */
export const appFileCommand = z.object({ commandId, deanery: deaneryCode, runDate: isoDate });

/**
 * The exporter's reply to a command. An "ok" is taken by the run as the deanery's file, so it must say
 * which file: a bare `{ status: "ok" }` would otherwise count as a file that was never made.
 */
export const appFileReply = z.discriminatedUnion('status', [
  z.looseObject({
    status: z.literal('ok'),
    commandId,
    deanery: deaneryCode,
    fileName: z.string().min(1),
    sequence: z.int().positive(),
    recordCount: z.int().nonnegative(),
    skipped: z.array(z.object({ recordId: z.string(), reason: z.string() })),
  }),
  rejection.extend({ commandId: commandId.optional() }),
]);

/** The reply schema of each job, by the prefix of the waiting workflow's id (the reply's correlationId). */
export const REPLY_SCHEMAS = { coj: cojReply, esr: appFileReply } as const;
