/**
 * `tisw conformance coj`: a CoJ receiver (TCS, or any that adopts the reply contract) tested case by case
 * through its queue, on the shared run (conformance.ts).
 *
 * The programme memberships are fresh UUIDs. With the receiver's store (the reference layout, TisStore) the
 * run adds its own programme memberships there, reads back what each delivery stored, and removes them
 * after; without it, it uses one programme membership the receiver knows, set aside for these tests, and
 * judges by the replies alone.
 */
import { randomUUID } from 'node:crypto';
import type { MongoTarget } from '../config/config';
import { openMongo, type MongoStore } from '../adapters/mongo';
import { TisStore, type TisCoj } from '../adapters/tis-store';
import { type CojVersion } from '../shared/coj';
import { InvalidInputError } from '../shared/errors';
import { cojReply } from '../shared/messages';
import { MALFORMED_KINDS, runConformance, SHARED_CONFORMANCE_CASES, type Answer, type ConformanceCase, type ConformanceJob, type ConformanceOptions, type ConformanceReport, type ConformanceRun, type MalformedKind } from './conformance';

/** The case names, as the table and --json show them: scripts and tests rely on them. */
export const COJ_CONFORMANCE_CASES = {
  firstDelivery: 'first delivery',
  repeat: 'same message again',
  olderAfterNewer: 'older signature after a newer one',
  unknown: 'unknown programme membership',
  malformed: SHARED_CONFORMANCE_CASES.malformed,
  validAfter: (kind: MalformedKind) => `valid CoJ after ${kind}`,
  correlation: SHARED_CONFORMANCE_CASES.correlation,
} as const;

export interface CojConformanceOptions extends ConformanceOptions {
  /** The receiver's store, in the reference layout (TisStore): fresh programme memberships are added there and read back. */
  store?: MongoTarget;
  /** Without a store: a programme membership the receiver knows, set aside for conformance tests. */
  programmeMembershipTisId?: string;
}

interface Signature {
  programmeMembershipTisId: string;
  signedAt: string;
  version: CojVersion;
}

type CojOk = Signature & { status: 'ok' };

const COJ_JOB: ConformanceJob<CojOk> = {
  job: 'coj',
  requests: 'test CoJs',
  messageType: 'coj.signed',
  replySchema: cojReply,
  describeOk: (s) => `naming ${describeSignature(s)}`,
};

const cojEvent = (s: Signature): object => ({ programmeMembershipTisId: s.programmeMembershipTisId, conditionsOfJoining: { signedAt: s.signedAt, version: s.version, syncedAt: null } });

export async function runCojConformance(options: CojConformanceOptions): Promise<ConformanceReport> {
  if (!options.store && !options.programmeMembershipTisId) {
    throw new InvalidInputError('name the receiver\'s store (--store-uri), where fresh test programme memberships are added and read back, or a programme membership it knows that is set aside for these tests (--programme-membership)');
  }
  return runConformance(options, COJ_JOB, async (run) => {
    const store = options.store ? await openStore(options.store) : undefined;
    const seeded: string[] = [];
    try {
      return { readBack: store !== undefined, cases: await cojCases(run, options, store, seeded) };
    } finally {
      if (store) {
        // The run's own programme memberships only: nothing of the receiver's is touched.
        await store.tis.programmeMemberships.deleteMany({ _id: { $in: seeded } }).catch(() => undefined);
        await store.mongo.close();
      }
    }
  });
}

async function cojCases(run: ConformanceRun<CojOk>, options: CojConformanceOptions, store: { tis: TisStore } | undefined, seeded: string[]): Promise<ConformanceCase[]> {
  const cases: ConformanceCase[] = [];
  const C = COJ_CONFORMANCE_CASES;
  // Signatures go up one second at a time from ten minutes ago, so each is newer than the one before.
  const firstSignedAt = Date.now() - 10 * 60_000;
  let nextSecond = 0;
  const signature = (programmeMembershipTisId: string): Signature => ({ programmeMembershipTisId, signedAt: new Date(firstSignedAt + 1000 * nextSecond++).toISOString(), version: 'GG10' });
  const storedCoj = (id: string): Promise<TisCoj | undefined> => (store ? store.tis.findCoj(id) : Promise.resolve(undefined));
  const okFor = (answer: Answer, s: Signature): boolean => {
    const ok = run.ok(answer);
    return ok !== undefined && ok.programmeMembershipTisId === s.programmeMembershipTisId && Date.parse(ok.signedAt) === Date.parse(s.signedAt) && ok.version === s.version;
  };

  let pm = options.programmeMembershipTisId as string;
  if (store) {
    pm = randomUUID();
    // The person id names the run: the record is plainly a conformance test's, should it outlive the run.
    await store.tis.addProgrammeMembership(pm, `tisw-conformance-${run.runId}`);
    seeded.push(pm);
  }
  const stored = store ? '; stored' : '';
  const readBack = store ? '' : ' (by the reply alone: no --store-uri)';

  // A first delivery: ok, naming the signature it stored.
  const first = signature(pm);
  const firstRequest = run.jsonRequest(cojEvent(first));
  const firstAnswer = await run.ask(firstRequest);
  const storedFirst = await storedCoj(pm);
  cases.push({
    case: C.firstDelivery,
    expected: `ok naming ${describeSignature(first)}${stored}`,
    seen: run.describe(firstAnswer) + (store ? `; stored: ${describeStored(storedFirst)}` : ''),
    pass: okFor(firstAnswer, first) && (!store || sameSignature(storedFirst, first)),
  });

  // The same message again, as a resend is: the same answer, and nothing stored again.
  const repeatAnswer = await run.ask(firstRequest);
  const storedRepeat = await storedCoj(pm);
  const sameAnswer = firstAnswer.kind === 'reply' && repeatAnswer.kind === 'reply' && contractFields(repeatAnswer.reply.body) === contractFields(firstAnswer.reply.body);
  const secondEffect = store ? describeSecondEffect(storedFirst, storedRepeat) : undefined;
  cases.push({
    case: C.repeat,
    expected: `the same answer, no second effect${readBack}`,
    seen: `${run.describe(repeatAnswer)}${firstAnswer.kind === 'reply' && repeatAnswer.kind === 'reply' && !sameAnswer ? ' (not the first answer)' : ''}${store ? `; ${secondEffect ?? 'stored once'}` : ''}`,
    pass: sameAnswer && okFor(repeatAnswer, first) && secondEffect === undefined,
  });

  // A newer signature, then an older one arriving late: the newer stays.
  const older = signature(pm);
  const newer = signature(pm);
  const newerAnswer = await run.ask(run.jsonRequest(cojEvent(newer)));
  const olderAnswer = await run.ask(run.jsonRequest(cojEvent(older)));
  const storedAfter = await storedCoj(pm);
  cases.push({
    case: C.olderAfterNewer,
    expected: `the newer one stays${store ? ' stored' : ''}; both answered${readBack}`,
    seen: `newer: ${run.describe(newerAnswer)}; older: ${run.describe(olderAnswer)}${store ? `; stored: ${describeStored(storedAfter)}` : ''}`,
    // The older one may be acknowledged (it was received, and ignored) or rejected, as long as it is answered.
    pass: okFor(newerAnswer, newer) && (okFor(olderAnswer, older) || run.rejected(olderAnswer)) && (!store || sameSignature(storedAfter, newer)),
  });

  // A programme membership nobody has: an explicit rejection, so the sender stops resending.
  const unknownAnswer = await run.ask(run.jsonRequest(cojEvent({ ...signature(pm), programmeMembershipTisId: randomUUID() })));
  cases.push({ case: C.unknown, expected: 'rejected with a reason', seen: run.describe(unknownAnswer), pass: run.rejected(unknownAnswer) });

  // Each malformed kind: refused, and the receiver still takes the next valid CoJ.
  for (const kind of MALFORMED_KINDS) {
    const s = signature(pm);
    cases.push(await run.malformedCase(kind, run.malformedRequest(kind, cojEvent(s), { programmeMembershipTisId: s.programmeMembershipTisId })));
    const valid = signature(pm);
    const validAnswer = await run.ask(run.jsonRequest(cojEvent(valid)));
    cases.push({ case: C.validAfter(kind), expected: `ok naming ${describeSignature(valid)}`, seen: run.describe(validAnswer), pass: okFor(validAnswer, valid) });
  }

  cases.push(run.correlationCase());
  return cases;
}

async function openStore(target: MongoTarget): Promise<{ mongo: MongoStore; tis: TisStore }> {
  const mongo = await openMongo(target, 'tisw-conformance');
  return { mongo, tis: new TisStore(mongo.db) };
}

/** What the contract says a reply means: the status and the job's fields (or the reason), in a fixed order. */
function contractFields(body: unknown): string {
  const b = (body ?? {}) as Record<string, unknown>;
  return JSON.stringify([b.status, b.programmeMembershipTisId, b.signedAt, b.version, b.reason]);
}

function describeSignature(s: Signature): string {
  return `${s.programmeMembershipTisId.slice(0, 8)}… signed ${s.signedAt} ${s.version}`;
}

function describeStored(coj: TisCoj | undefined): string {
  return coj ? `signed ${coj.signedAt.toISOString()} ${coj.version}` : 'nothing';
}

function sameSignature(coj: TisCoj | undefined, s: Signature): boolean {
  return coj !== undefined && coj.signedAt.getTime() === Date.parse(s.signedAt) && coj.version === s.version;
}

/** A repeat that wrote the CoJ again shows in receivedAt: TIS's sync would copy it to TSS a second time. */
function describeSecondEffect(before: TisCoj | undefined, after: TisCoj | undefined): string | undefined {
  if (!before || !after) return `stored: ${describeStored(after)}`;
  if (before.signedAt.getTime() !== after.signedAt.getTime() || before.version !== after.version) return `stored changed to ${describeStored(after)}`;
  // A store written by another receiver may not keep receivedAt: then only the signature can be compared.
  const [was, now] = [before.receivedAt as Date | undefined, after.receivedAt as Date | undefined];
  if (was && now && was.getTime() !== now.getTime()) return `stored again: receivedAt moved from ${was.toISOString()} to ${now.toISOString()}`;
  return undefined;
}
