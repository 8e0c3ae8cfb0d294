/**
 * The demo `tisw up` seeds on an empty local data directory, so that a newcomer sees both jobs run:
 * a few trainees with signed CoJs (TSS store) and their programme memberships (TIS store), one of them
 * unknown to TIS so that its CoJ is rejected; GeneratedAppRecords across the 13 deaneries, some due on
 * the run date and some not yet due (ESR store). It then submits the CoJs and asks the ESR lane for the
 * run date's files, without waiting, and says where to look.
 *
 * "Empty" means: no marker file `demo-seeded` in the data directory. The marker is written as soon as
 * the data is in the stores (before the work is started), so a later `tisw up` never seeds the same
 * demo twice; delete it to seed again. Nothing is written unless every MongoDB URI names this machine.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Config } from '../config/config';
import { openMongo, type MongoStore } from '../adapters/mongo';
import { TssStore } from '../adapters/tss-store';
import { TisStore } from '../adapters/tis-store';
import { EsrStore, dueWindow, type GeneratedAppRecord } from '../adapters/esr-store';
import { cojSettings, submitCoj } from '../client/coj';
import { esrSettings } from '../client/esr';
import { type CojSignature } from '../shared/coj';
import { DEANERIES, esrRequestWorkflowId, esrRunWorkflowId } from '../shared/esr';
import { esrRequestWorkflow } from '../workflows/esr-run.workflow';
import { LOCAL_HOSTS } from './ports';

export const DEMO_MARKER = 'demo-seeded';

const DAY_MS = 86_400_000;

/** Due and not-yet-due GeneratedAppRecords per deanery. */
const DUE_PER_DEANERY = 2;
const NOT_DUE_PER_DEANERY = 1;

export interface DemoCoj {
  programmeMembershipTisId: string;
  traineeTisId: string;
  /** false for the one TIS does not know: its CoJ is rejected. */
  knownToTis: boolean;
  workflowId: string;
}

export type DemoResult =
  | {
      outcome: 'seeded';
      markerFile: string;
      runDate: string;
      cojs: DemoCoj[];
      records: { due: string[]; notDue: string[] };
      esrRequestWorkflowId: string;
      esrRunWorkflowId: string;
    }
  | { outcome: 'already-seeded'; markerFile: string }
  | { outcome: 'refused'; reason: string };

export interface DemoOptions {
  say: (line: string) => void;
  /** @default today (UTC) */
  runDate?: string;
  /** Where the Temporal UI is, for the links printed; none printed when absent. */
  uiUrl?: string;
}

/**
 * The MongoDB URIs (by variable) whose hosts are not this machine. A `mongodb+srv` URI names a DNS
 * record, never this machine.
 */
export function nonLocalMongoUris(config: Config): string[] {
  const targets = [['TSS_MONGODB_URI', config.mongo.tss.uri], ['TIS_MONGODB_URI', config.mongo.tis.uri], ['ESR_MONGODB_URI', config.mongo.esr.uri]] as const;
  const problems: string[] = [];
  for (const [name, uri] of targets) {
    const match = /^mongodb(\+srv)?:\/\/(?:[^@/]*@)?([^/?]+)/.exec(uri);
    const hosts = (match?.[2] ?? '').split(',').map(hostOf);
    // Never the URI itself in the message: it may hold a password.
    const foreign = !match ? ['an address that cannot be read'] : match[1] ? [match[2] ?? ''] : hosts.filter((h) => !LOCAL_HOSTS.has(h));
    if (foreign.length > 0) problems.push(`${name} names ${foreign.join(', ')}`);
  }
  return problems;
}

function hostOf(hostPort: string): string {
  const host = hostPort.startsWith('[') ? hostPort.slice(1, hostPort.indexOf(']')) : (hostPort.split(':')[0] ?? '');
  return host.toLowerCase();
}

/** Seeds the demo once per data directory and starts its work; see the module comment. */
export async function seedDemo(config: Config, client: Client, options: DemoOptions): Promise<DemoResult> {
  const { say } = options;
  const markerFile = path.join(config.local.dataDir, DEMO_MARKER);
  if (fs.existsSync(markerFile)) return { outcome: 'already-seeded', markerFile };
  const foreign = nonLocalMongoUris(config);
  if (foreign.length > 0) {
    return { outcome: 'refused', reason: `the demo only seeds local databases (127.0.0.1, localhost, ::1), and ${foreign.join('; ')}: nothing was written` };
  }

  const runDate = options.runDate ?? new Date().toISOString().slice(0, 10);
  const tag = randomBytes(3).toString('hex');
  const cojs = demoSignatures();
  const records = demoRecords(runDate, tag);

  const opened: MongoStore[] = [];
  let esr: EsrStore | undefined;
  try {
    const tssDb = await openMongo(config.mongo.tss, 'tisw-demo');
    opened.push(tssDb);
    const tisDb = await openMongo(config.mongo.tis, 'tisw-demo');
    opened.push(tisDb);
    esr = await EsrStore.open(config.mongo.esr, 'tisw-demo');
    const tss = new TssStore(tssDb.db, config.mongo.tssProfilesCollection);
    const tis = new TisStore(tisDb.db);
    for (const { signature, knownToTis } of cojs) {
      await tss.saveSignature(signature);
      if (knownToTis) await tis.addProgrammeMembership(signature.programmeMembershipTisId, signature.traineeTisId);
    }
    await esr.records.insertMany([...records.due, ...records.notDue]);
  } finally {
    await esr?.close();
    for (const store of opened) await store.close();
  }
  fs.mkdirSync(config.local.dataDir, { recursive: true });
  fs.writeFileSync(markerFile, `${JSON.stringify({ seededAt: new Date().toISOString(), runDate, tag })}\n`);
  say(
    `demo: seeded ${cojs.length} signed CoJs in TSS (${cojs.filter((c) => c.knownToTis).length} with programme memberships TIS knows, 1 it does not, which TIS will reject) ` +
      `and ${records.due.length + records.notDue.length} GeneratedAppRecords TO_EXPORT across the ${DEANERIES.length} deaneries (${records.due.length} due on ${runDate}, ${records.notDue.length} not yet due)`,
  );

  const settings = cojSettings(config);
  const submitted: DemoCoj[] = [];
  for (const { signature, knownToTis } of cojs) {
    const { workflowId } = await submitCoj(client, settings, signature);
    submitted.push({ programmeMembershipTisId: signature.programmeMembershipTisId, traineeTisId: signature.traineeTisId, knownToTis, workflowId });
  }
  const requestId = `demo-${runDate}-${tag}`;
  const { acknowledgement, timings } = esrSettings(config);
  await client.workflow.start(esrRequestWorkflow, {
    taskQueue: config.temporal.taskQueue,
    workflowId: esrRequestWorkflowId(requestId),
    args: [{ requestId, runDate, acknowledgement, timings }],
  });
  const runWorkflowId = esrRunWorkflowId({ runDate, requestId });

  say(`demo: submitted the ${submitted.length} CoJs (workflows ${submitted.map((c) => c.workflowId).join(', ')})`);
  say(`demo: requested the ESR run for ${runDate} through the lane (${esrRequestWorkflowId(requestId)}; the run is ${runWorkflowId}); files go to ${config.esr.filesDir}`);
  if (options.uiUrl) {
    const list = (query: string): string => `${options.uiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows?query=${encodeURIComponent(query)}`;
    say(`demo: within a minute, in the Temporal UI:`);
    say(`  CoJs acknowledged   ${list(`TisStage="acknowledged"`)}`);
    say(`  CoJ rejected        ${list(`TisStage="rejected"`)}`);
    say(`  the ESR run         ${list(`TisRunDate="${runDate}"`)}`);
  }
  const how =
    config.coj.acknowledgement === 'synced'
      ? "acknowledged as TIS does it today: TCS stores each, sends nothing back, and TIS's sync copies it onto TSS's profile with syncedAt, which the sync watcher sees (the unknown one is dead-lettered by TCS's queue and ends rejected)"
      : "acknowledged by the receiver's reply, then syncedAt written to TSS's store";
  say(`demo: the CoJs are ${how}`);
  say(`demo: or \`npx tisw coj status ${submitted[0]?.programmeMembershipTisId ?? ''}\` (its acknowledgementMode and acknowledgement say how); this data directory is marked (${markerFile}), so it is not seeded again: delete that file to seed again`);
  return {
    outcome: 'seeded',
    markerFile,
    runDate,
    cojs: submitted,
    records: { due: records.due.map((r) => r._id), notDue: records.notDue.map((r) => r._id) },
    esrRequestWorkflowId: esrRequestWorkflowId(requestId),
    esrRunWorkflowId: runWorkflowId,
  };
}

function demoSignatures(): Array<{ signature: CojSignature; knownToTis: boolean }> {
  const versions = ['GG10', 'GG10', 'GG9', 'GG10'] as const;
  return versions.map((version, i) => ({
    signature: {
      programmeMembershipTisId: randomUUID(),
      traineeTisId: String(randomInt(100_000, 1_000_000_000)),
      signedAt: new Date(Date.now() - (i + 1) * 60_000).toISOString(),
      version,
    },
    knownToTis: i < versions.length - 1,
  }));
}

const FORENAMES = ['Ada', 'Alan', 'Grace', 'Mary', 'Edward', 'Rosalind', 'Florence'];
const SURNAMES = ['Lovelace', 'Turing', 'Hopper', 'Seacole', 'Jenner', 'Franklin', 'Nightingale'];

/** Per deanery: due records at both ends of the due window, and one starting just after it (not yet due). */
function demoRecords(runDate: string, tag: string): { due: GeneratedAppRecord[]; notDue: GeneratedAppRecord[] } {
  const { from, before } = dueWindow(runDate);
  const plusDays = (date: string, days: number): string => new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
  let n = 0;
  const record = (deanery: string, placementStartDate: string): GeneratedAppRecord => {
    n++;
    return {
      _id: `demo-${tag}-${deanery}-${n}`,
      deanery,
      placementId: String(900_000 + n),
      positionNumber: `${deanery}/RTH01/${String(n).padStart(3, '0')}`,
      applicant: { forenames: FORENAMES[n % FORENAMES.length] ?? 'Ada', surname: SURNAMES[n % SURNAMES.length] ?? 'Lovelace', gmcNumber: String(7_000_000 + n) },
      placementStartDate,
      status: 'TO_EXPORT',
    };
  };
  const due: GeneratedAppRecord[] = [];
  const notDue: GeneratedAppRecord[] = [];
  for (const deanery of DEANERIES) {
    for (let i = 0; i < DUE_PER_DEANERY; i++) due.push(record(deanery, i % 2 === 0 ? from : plusDays(before, -1)));
    for (let i = 0; i < NOT_DUE_PER_DEANERY; i++) notDue.push(record(deanery, plusDays(before, 7 * (i + 1))));
  }
  return { due, notDue };
}
