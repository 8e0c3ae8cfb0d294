/**
 * Properties of the message schemas (src/shared/messages.ts), over generated input: every valid message
 * parses and survives a JSON round trip unchanged; no JSON value, and no bytes on the wire, make a parse
 * throw (each failure says what is wrong, field by field); a valid message with any one required field
 * removed or given a value of the wrong type is refused, naming that field. Pure schema logic: no server.
 */
import fc from 'fast-check';
import type { ConsumeMessage } from 'amqplib';
import type { z } from 'zod';
import { readJsonMessage } from '../src/adapters/amqp-consumer';
import { COJ_VERSIONS } from '../src/shared/coj';
import { appFileName, DEANERIES } from '../src/shared/esr';
import { appFileCommand, appFileReply, cojReply, cojSignedEvent, describeIssues, isoDate, isoInstant } from '../src/shared/messages';

// -------------------------------------------------------------------------------------------------
// Valid values, as the senders make them

const uuid = fc.uuid();
const legacyProgrammeMembershipId = fc.array(fc.bigInt({ min: 0n, max: 999_999_999_999n }), { minLength: 1, maxLength: 51 }).map((ids) => ids.join(','));
const programmeMembershipTisId = fc.oneof(uuid, legacyProgrammeMembershipId);
const moment = fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true });

/** The same instant written in a zone `offsetMinutes` from UTC, e.g. 2026-01-05T11:30:00.000+02:00. */
function inZone(date: Date, offsetMinutes: number): string {
  const local = new Date(date.getTime() + offsetMinutes * 60_000).toISOString().slice(0, -1);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** An instant with its zone: UTC (Z) or an offset from -14:00 to +14:00, on a day within years 1 to 9999 in both. */
const instant = fc.oneof(
  moment.map((d) => d.toISOString()),
  fc
    .tuple(fc.date({ min: new Date('0001-01-02T00:00:00Z'), max: new Date('9999-12-30T23:59:59Z'), noInvalidDate: true }), fc.integer({ min: -14 * 60, max: 14 * 60 }))
    .map(([d, offset]) => inZone(d, offset)),
);
const day = moment.map((d) => d.toISOString().slice(0, 10));
const version = fc.constantFrom(...COJ_VERSIONS);
const deanery = fc.constantFrom(...DEANERIES);
const commandId = fc.stringMatching(/^[\w.:-]{1,200}$/);

const cojEvent = fc.record({
  programmeMembershipTisId,
  conditionsOfJoining: fc.record({ signedAt: instant, version, syncedAt: fc.constant(null) }),
});
const command = fc.record({ commandId, deanery, runDate: day });
const rejection = fc.record({ status: fc.constant('rejected' as const), reason: fc.string({ minLength: 1 }) });
const cojOk = fc.record({ status: fc.constant('ok' as const), programmeMembershipTisId, signedAt: instant, version });
const fileOk = fc
  .record({
    status: fc.constant('ok' as const),
    commandId,
    deanery,
    runDate: day,
    sequence: fc.integer({ min: 1, max: 99_999_999 }),
    recordCount: fc.nat(),
    skipped: fc.array(fc.record({ recordId: fc.uuid(), reason: fc.string() }), { maxLength: 3 }),
  })
  .map(({ runDate, ...reply }) => ({ ...reply, fileName: appFileName(reply.deanery, runDate, reply.sequence) }));

/** Each schema beside messages of the shapes it must take. */
const SCHEMAS: Array<[string, z.ZodType, fc.Arbitrary<Record<string, unknown>>]> = [
  ['CoJ signed event', cojSignedEvent, cojEvent],
  ['ESR app-file command', appFileCommand, command],
  ["TIS's CoJ reply (ok)", cojReply, cojOk],
  ["TIS's CoJ reply (rejected)", cojReply, rejection],
  ["the exporter's reply (ok)", appFileReply, fileOk],
  ["the exporter's reply (rejected)", appFileReply, rejection],
];

// -------------------------------------------------------------------------------------------------
// Changing one field

/** The JSON type of a value, telling arrays and null apart from objects. */
const jsonType = (value: unknown): string => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);

/** Paths of the fields a message has (its leaves, and nested objects as a whole). */
function fieldPaths(message: Record<string, unknown>, prefix: string[] = []): string[][] {
  return Object.entries(message).flatMap(([key, value]) => {
    const path = [...prefix, key];
    return jsonType(value) === 'object' ? [path, ...fieldPaths(value as Record<string, unknown>, path)] : [path];
  });
}

/** A copy of `message` with the field at `path` removed (`replacement` undefined) or replaced. */
function withField(message: Record<string, unknown>, path: string[], replacement: unknown): Record<string, unknown> {
  const copy = structuredClone(message);
  let parent: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string, unknown>;
  const last = path.at(-1) as string;
  if (replacement === undefined) delete parent[last];
  else parent[last] = replacement;
  return copy;
}

const anyJsonScalarOrContainer = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.string(), fc.array(fc.integer(), { maxLength: 2 }), fc.dictionary(fc.string(), fc.integer(), { maxKeys: 2 }));

// -------------------------------------------------------------------------------------------------

describe('the message schemas, over generated input', () => {
  describe.each(SCHEMAS)('%s', (_name, schema, valid) => {
    it('takes every valid message, and the same message after a JSON round trip, unchanged', () => {
      fc.assert(
        fc.property(valid, (message) => {
          const parsed = schema.safeParse(message);
          expect(parsed.success && parsed.data).toEqual(message);
          expect(schema.safeParse(JSON.parse(JSON.stringify(message)))).toEqual(parsed);
        }),
      );
    });

    it('refuses a valid message with any one field removed or of the wrong type, naming the field', () => {
      const mutation = valid.chain((message) =>
        fc.tuple(
          fc.constant(message),
          fc.constantFrom(...fieldPaths(message)).chain((path) => {
            const original = path.reduce<unknown>((value, key) => (value as Record<string, unknown>)[key], message);
            return fc.tuple(fc.constant(path), fc.oneof(fc.constant(undefined), anyJsonScalarOrContainer.filter((v) => jsonType(v) !== jsonType(original))));
          }),
        ),
      );
      fc.assert(
        fc.property(mutation, ([message, [path, replacement]]) => {
          const parsed = schema.safeParse(withField(message, path, replacement));
          expect(parsed.success).toBe(false);
          // The field itself, or (for the discriminator) the message as a whole, is named.
          const named = parsed.error?.issues.some((i) => i.path.join('.') === path.join('.') || (path.join('.') === 'status' && i.path.length <= 1));
          expect({ path, replacement, named, issues: describeIssues(parsed.error as z.ZodError) }).toMatchObject({ named: true });
        }),
      );
    });

    it('never throws on any JSON value: it refuses with one readable "path: problem" per issue, or takes it', () => {
      fc.assert(
        fc.property(fc.jsonValue(), (value) => {
          const parsed = schema.safeParse(value);
          if (parsed.success) return;
          expect(parsed.error.issues.length).toBeGreaterThan(0);
          for (const line of describeIssues(parsed.error).split('; ')) expect(line).toMatch(/^[^:]+: \S/);
        }),
      );
    });
  });

  it('never throws on any bytes a consumer receives: it reads JSON or says why not', () => {
    const contentType = fc.option(fc.oneof(fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain'), fc.string()), { nil: undefined });
    const body = fc.oneof(fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)), fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? '')));
    fc.assert(
      fc.property(body, contentType, (content, type) => {
        const read = readJsonMessage({ content, properties: { contentType: type } } as unknown as ConsumeMessage);
        if (read.ok) expect(read.body).toEqual(JSON.parse(content.toString('utf8')));
        else expect(read.reason).toMatch(/^(body is not valid JSON|content type .* is not application\/json|message of \d+ bytes is over)/);
      }),
    );
  });

  describe('dates and instants that do not exist are refused, not rolled over', () => {
    const daysIn = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate();
    const beyondMonth = fc
      .tuple(fc.integer({ min: 1, max: 9999 }), fc.integer({ min: 1, max: 12 }))
      .filter(([y, m]) => daysIn(y, m) < 31)
      .chain(([y, m]) => fc.tuple(fc.constant(y), fc.constant(m), fc.integer({ min: daysIn(y, m) + 1, max: 39 })))
      .map(([y, m, d]) => `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`);

    it('a day past the end of its month (2026-02-30), as a date or in an instant', () => {
      fc.assert(
        fc.property(beyondMonth, (date) => {
          expect(isoDate.safeParse(date).success).toBe(false);
          expect(isoInstant.safeParse(`${date}T09:30:00Z`).success).toBe(false);
        }),
      );
    });

    it('an hour past 23, a minute or second past 59, or an offset past 23:59', () => {
      const two = (n: number): string => String(n).padStart(2, '0');
      const outOfRange = fc.oneof(
        fc.integer({ min: 24, max: 99 }).map((h) => `2026-01-05T${two(h)}:00:00Z`),
        fc.integer({ min: 60, max: 99 }).map((m) => `2026-01-05T09:${two(m)}:00Z`),
        fc.integer({ min: 60, max: 99 }).map((s) => `2026-01-05T09:30:${two(s)}Z`),
        fc.integer({ min: 24, max: 99 }).map((h) => `2026-01-05T09:30:00+${two(h)}:00`),
      );
      fc.assert(fc.property(outOfRange, (text) => expect(isoInstant.safeParse(text).success).toBe(false)));
    });

    it('an instant that is taken means the moment it says', () => {
      fc.assert(
        fc.property(moment, fc.integer({ min: -14 * 60, max: 14 * 60 }), (date, offset) => {
          const text = inZone(date, offset);
          fc.pre(/^\d{4}-/.test(text));
          expect(isoInstant.safeParse(text).success).toBe(true);
          expect(Date.parse(text)).toBe(date.getTime());
        }),
      );
    });
  });
});
