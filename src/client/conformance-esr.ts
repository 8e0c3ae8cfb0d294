/**
 * `tisw conformance esr`: an ESR data exporter that adopts the reply contract, tested case by case through
 * its queue, on the shared run (conformance.ts).
 *
 * What it sends is as plainly a test's as the contract allows. The deaneries must be the 13 real codes (an
 * exporter rejects any other, and the unknown-deanery case relies on that), so the marks are elsewhere:
 * every commandId is `tisw-conformance-<run id>-cmd-<n>`, and every command of a run has the same run date,
 * a day picked at random in the years 9000 to 9999. No GeneratedAppRecord is due then (a record is due from
 * 2 days to 13 weeks after the run date), so each file the exporter makes holds no record and no real
 * record is marked EXPORTED. What cannot be avoided: each file takes a number from the shared file-sequence
 * counter, and the exporter records it (appFiles) and writes it to its files directory. The run leaves those
 * as they are (its numbers were taken; removing the records would only hide that) and says what it left.
 *
 * With the exporter's store (--store-uri, the reference layout: appFiles keyed by commandId) each effect is
 * read back; without it the run judges by the replies alone.
 */
import { randomBytes } from 'node:crypto';
import type { MongoTarget } from '../config/config';
import { EsrStore } from '../adapters/esr-store';
import { DEANERIES, type AppFileCommand, type AppFileReply } from '../shared/esr';
import { appFileReply } from '../shared/messages';
import { conformanceIdPrefix, MALFORMED_KINDS, runConformance, SHARED_CONFORMANCE_CASES, type Answer, type ConformanceCase, type ConformanceJob, type ConformanceOptions, type ConformanceReport, type ConformanceRun, type MalformedKind } from './conformance';

/** The case names, as the table and --json show them: scripts and tests rely on them. */
export const ESR_CONFORMANCE_CASES = {
  firstCommand: 'first command',
  repeat: 'same commandId again',
  filePerCommand: 'one file per command',
  unknown: 'unknown deanery',
  malformed: SHARED_CONFORMANCE_CASES.malformed,
  validAfter: (kind: MalformedKind) => `valid command after ${kind}`,
  sequence: 'sequence never reused',
  correlation: SHARED_CONFORMANCE_CASES.correlation,
} as const;

/** A code of the right shape that no deanery has: what the unknown-deanery case sends. */
export const CONFORMANCE_UNKNOWN_DEANERY = 'ZZZ';

/** The years a run's date is picked from: no placement starts then, so nothing is due. */
export const CONFORMANCE_RUN_YEARS = { from: 9000, to: 9999 } as const;

export interface EsrConformanceOptions extends ConformanceOptions {
  /** The exporter's store, in the reference layout (EsrStore): each file is read back from appFiles. */
  store?: MongoTarget;
}

type EsrOk = AppFileReply & { status: 'ok' };

const ESR_JOB: ConformanceJob<EsrOk> = {
  job: 'esr',
  requests: 'test app-file commands',
  messageType: 'esr.appfilegenerationcommand.create',
  replySchema: appFileReply,
  describeOk: (ok) => `${shortId(ok.commandId)} ${ok.deanery}: ${describeFile(ok)}, ${ok.recordCount} record(s)`,
};

const DAY_MS = 86_400_000;

/** A day in CONFORMANCE_RUN_YEARS, far enough from the last day that its due window stays in them. */
export function conformanceRunDate(random: number = randomBytes(4).readUInt32BE()): string {
  const from = Date.UTC(CONFORMANCE_RUN_YEARS.from, 0, 1);
  const days = Math.floor((Date.UTC(CONFORMANCE_RUN_YEARS.to, 8, 1) - from) / DAY_MS);
  return new Date(from + (random % days) * DAY_MS).toISOString().slice(0, 10);
}

export async function runEsrConformance(options: EsrConformanceOptions): Promise<ConformanceReport> {
  return runConformance(options, ESR_JOB, async (run) => {
    const store = options.store ? await EsrStore.open(options.store, 'tisw-conformance') : undefined;
    try {
      return await esrCases(run, store);
    } finally {
      await store?.close();
    }
  });
}

async function esrCases(run: ConformanceRun<EsrOk>, store: EsrStore | undefined): Promise<{ readBack: boolean; cases: ConformanceCase[]; leftBehind: string }> {
  const cases: ConformanceCase[] = [];
  const C = ESR_CONFORMANCE_CASES;
  const runDate = conformanceRunDate();
  let commands = 0;
  const command = (deanery: string): AppFileCommand => ({ commandId: `${conformanceIdPrefix(run.runId)}cmd-${++commands}`, deanery: deanery as AppFileCommand['deanery'], runDate });
  /** Every distinct command answered ok, in the order sent, with its first answer: the files the run made. */
  const made: EsrOk[] = [];
  const okFor = (answer: Answer, c: AppFileCommand): EsrOk | undefined => {
    const ok = run.ok(answer);
    return ok && ok.commandId === c.commandId && ok.deanery === c.deanery ? ok : undefined;
  };
  const ask = async (c: AppFileCommand): Promise<{ answer: Answer; ok: EsrOk | undefined }> => {
    const answer = await run.ask(run.jsonRequest(c));
    const ok = okFor(answer, c);
    if (ok && !made.some((m) => m.commandId === ok.commandId)) made.push(ok);
    return { answer, ok };
  };
  /** The appFiles recorded for a deanery on the run's date. */
  const filesOf = async (deanery: string): Promise<Array<{ _id: string; fileName: string; sequence: number }>> =>
    store ? store.appFiles.find({ deanery: deanery as AppFileCommand['deanery'], runDate }, { projection: { fileName: 1, sequence: 1 } }).sort({ sequence: 1 }).toArray() : [];
  const readBack = store ? '' : ' (by the reply alone: no --store-uri)';
  const [first, ...others] = DEANERIES;

  // A first command: ok, naming its command, deanery and file; recorded as that file.
  const a = command(first);
  const { answer: aAnswer, ok: aOk } = await ask(a);
  const aStored = store ? await store.appFile(a.commandId) : null;
  cases.push({
    case: C.firstCommand,
    expected: `ok naming ${shortId(a.commandId)} ${a.deanery}, with fileName, sequence and recordCount${store ? '; the same file in appFiles' : ''}`,
    seen: run.describe(aAnswer) + (store ? `; stored: ${aStored ? describeFile(aStored) : `no appFile for ${shortId(a.commandId)}`}` : ''),
    pass: aOk !== undefined && (!store || (aStored !== null && sameFile(aStored, aOk))),
  });

  // The same commandId again, as a resend or a second worker sends it (a new messageId): the same file, not a second one.
  const { answer: repeatAnswer, ok: repeatOk } = await ask(a);
  const aFilesAfterRepeat = await filesOf(a.deanery);
  const aStoredAfterRepeat = store ? await store.appFile(a.commandId) : null;
  const storeProblem = !store
    ? undefined
    : aFilesAfterRepeat.length !== 1
      ? `${aFilesAfterRepeat.length} files for ${a.deanery} on ${runDate}: ${aFilesAfterRepeat.map(describeFile).join(', ')}`
      : aOk && aStoredAfterRepeat && !sameFile(aStoredAfterRepeat, aOk)
        ? `its appFile is now ${describeFile(aStoredAfterRepeat)}`
        : undefined;
  cases.push({
    case: C.repeat,
    expected: `the same file (fileName and sequence), no second one${readBack}`,
    seen: `${run.describe(repeatAnswer)}${aOk && repeatOk && !sameFile(repeatOk, aOk) ? ` (the first was ${describeFile(aOk)})` : ''}${store ? `; stored: ${storeProblem ?? 'one file'}` : ''}`,
    pass: aOk !== undefined && repeatOk !== undefined && sameFile(repeatOk, aOk) && storeProblem === undefined,
  });

  // A second command for the same deanery and day (as a second pass sends): a file of its own.
  const b = command(first);
  const { answer: bAnswer, ok: bOk } = await ask(b);
  const abFiles = await filesOf(a.deanery);
  const ownFiles = !store || (abFiles.length === 2 && [a, b].every((c) => abFiles.some((f) => f._id === c.commandId)));
  cases.push({
    case: C.filePerCommand,
    expected: `a second command for ${b.deanery} on the same day gets a file of its own${store ? '; one appFile each' : readBack}`,
    seen: `${run.describe(bAnswer)}${aOk ? `; the first: ${describeFile(aOk)}` : ''}${store ? `; stored for ${a.deanery} on ${runDate}: ${abFiles.map((f) => `${shortId(f._id)} ${describeFile(f)}`).join(', ') || 'nothing'}` : ''}`,
    pass: aOk !== undefined && bOk !== undefined && bOk.fileName !== aOk.fileName && bOk.sequence !== aOk.sequence && ownFiles,
  });

  // A deanery nobody has: an explicit rejection (so the run stops resending), and no file.
  const unknown = command(CONFORMANCE_UNKNOWN_DEANERY);
  const { answer: unknownAnswer } = await ask(unknown);
  const unknownFile = store ? await store.appFile(unknown.commandId) : null;
  cases.push({
    case: C.unknown,
    expected: `rejected with a reason${store ? '; no file' : ''}`,
    seen: run.describe(unknownAnswer) + (store ? `; stored: ${unknownFile ? describeFile(unknownFile) : 'no file'}` : ''),
    pass: run.rejected(unknownAnswer) && unknownFile === null,
  });

  // Each malformed kind: refused, and the exporter still takes the next valid command (each of another deanery).
  for (const [i, kind] of MALFORMED_KINDS.entries()) {
    const deanery = others[i % others.length] ?? first;
    const bad = command(deanery);
    cases.push(await run.malformedCase(kind, run.malformedRequest(kind, bad, { commandId: bad.commandId })));
    const valid = command(deanery);
    const { answer, ok } = await ask(valid);
    cases.push({ case: C.validAfter(kind), expected: `ok naming ${shortId(valid.commandId)} ${valid.deanery}`, seen: run.describe(answer), pass: ok !== undefined });
  }

  // Across every command of the run (of several deaneries): each its own number, in the order sent.
  const sequences = made.map((m) => m.sequence);
  const reused = sequences.find((s, i) => sequences.indexOf(s) !== i);
  const backwards = sequences.findIndex((s, i) => i > 0 && s <= (sequences[i - 1] ?? 0));
  const holding = store && sequences.length > 0 ? await store.appFiles.find({ sequence: { $in: sequences } }, { projection: { fileName: 1, sequence: 1 } }).toArray() : [];
  const sharedInStore = [...new Set(sequences)]
    .map((s) => ({ sequence: s, files: holding.filter((f) => f.sequence === s).map((f) => f.fileName) }))
    .filter((g) => g.files.length > 1);
  cases.push({
    case: C.sequence,
    expected: `each command its own sequence, increasing in the order sent${store ? '; one appFile per sequence' : readBack}`,
    seen: [
      made.length === 0 ? 'no file made' : `sequences ${sequences.join(', ')} for ${made.length} command(s)`,
      reused !== undefined && `sequence ${reused} given to ${made.filter((m) => m.sequence === reused).map((m) => shortId(m.commandId)).join(', ')}`,
      reused === undefined && backwards > 0 && `${sequences[backwards]} after ${sequences[backwards - 1]}`,
      made.length === 1 && 'one file only: nothing to compare',
      store && (sharedInStore.length === 0 ? 'one appFile per sequence' : sharedInStore.map((g) => `sequence ${g.sequence} held by ${g.files.join(', ')}`).join('; ')),
    ]
      .filter((p): p is string => typeof p === 'string')
      .join('; '),
    pass: made.length >= 2 && reused === undefined && backwards === -1 && sharedInStore.length === 0,
  });

  cases.push(run.correlationCase());

  const records = made.reduce((n, m) => n + m.recordCount, 0);
  // Valid commands sent: the first two and one after each malformed kind.
  const unanswered = 2 + MALFORMED_KINDS.length - made.length;
  const marks = `commandIds ${conformanceIdPrefix(run.runId)}cmd-*, run date ${runDate}`;
  const leftBehind = [
    made.length === 0
      ? `no file was made (${marks})`
      : `the exporter made ${made.length} file(s) for this run (${marks}, sequences ${sequences.join(', ')}, ${records} record(s) in them): their records in its store (appFiles) and the files themselves are left as they are`,
    unanswered > 0 && `${unanswered} valid command(s) went unanswered: an exporter that takes them later makes their files, marked the same way`,
  ]
    .filter((p): p is string => typeof p === 'string')
    .join('; ');
  return { readBack: store !== undefined, cases, leftBehind };
}

function sameFile(a: { fileName: string; sequence: number }, b: { fileName: string; sequence: number }): boolean {
  return a.fileName === b.fileName && a.sequence === b.sequence;
}

function describeFile(f: { fileName: string; sequence: number }): string {
  return `${f.fileName} sequence ${f.sequence}`;
}

/** A run's commandId without the run's prefix, which every row would repeat: "…cmd-3". */
function shortId(commandId: string): string {
  return commandId.replace(/^tisw-conformance-\d{14}-[0-9a-f]{6}-/, '…');
}
