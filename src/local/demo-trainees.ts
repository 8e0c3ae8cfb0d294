/**
 * `tisw demo trainees N`: N trainees to sign CoJs for, known where a real one would be: a programme
 * membership in TIS's store (what the reference CoJ receiver requires) and a TSS profile holding it, with no
 * CoJ yet (version 0, as TSS inserts a profile). Local databases only, by the demo's own check.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { Config } from '../config/config';
import { openMongo } from '../adapters/mongo';
import { TssStore } from '../adapters/tss-store';
import { TisStore } from '../adapters/tis-store';
import { nonLocalMongoUris } from './demo';

export interface DemoTrainee {
  traineeTisId: string;
  programmeMembershipTisId: string;
}

export type DemoTraineesResult = { outcome: 'made'; trainees: DemoTrainee[] } | { outcome: 'refused'; reason: string };

export async function makeDemoTrainees(config: Config, count: number): Promise<DemoTraineesResult> {
  const foreign = nonLocalMongoUris(config);
  if (foreign.length > 0) {
    return { outcome: 'refused', reason: `demo trainees are made in local databases only (127.0.0.1, localhost, ::1), and ${foreign.join('; ')}: nothing was written` };
  }
  // Random ids, as the demo's: a TIS person id is numeric, a programme membership id a UUID.
  const trainees: DemoTrainee[] = Array.from({ length: count }, () => ({ traineeTisId: String(randomInt(100_000, 2 ** 47)), programmeMembershipTisId: randomUUID() }));
  const tisDb = await openMongo(config.mongo.tis, 'tisw-demo');
  try {
    const tssDb = await openMongo(config.mongo.tss, 'tisw-demo');
    try {
      await new TisStore(tisDb.db).addNewProgrammeMemberships(trainees.map((t) => ({ id: t.programmeMembershipTisId, personId: t.traineeTisId })));
      await new TssStore(tssDb.db, config.mongo.tssProfilesCollection).saveNewTrainees(
        trainees.map((t) => ({ traineeTisId: t.traineeTisId, programmeMembershipTisIds: [t.programmeMembershipTisId] })),
      );
    } finally {
      await tssDb.close();
    }
  } finally {
    await tisDb.close();
  }
  return { outcome: 'made', trainees };
}
