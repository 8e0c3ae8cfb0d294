/** Test data for CoJ submissions: unique ids per test, the TSS profile and the TIS programme membership. */
import { randomInt, randomUUID } from 'node:crypto';
import type { CojSignature } from '../../src/shared/coj';
import type { Client } from '@temporalio/client';
import type { Config } from '../../src/config/config';
import { openMongo } from '../../src/adapters/mongo';
import { TssStore } from '../../src/adapters/tss-store';
import { TisStore } from '../../src/adapters/tis-store';
import { testClient } from './system';

export function newSignature(overrides: Partial<CojSignature> = {}): CojSignature {
  return {
    programmeMembershipTisId: randomUUID(),
    traineeTisId: String(randomInt(1, 2 ** 47)),
    signedAt: new Date(Date.now() - 1000).toISOString(),
    version: 'GG10',
    ...overrides,
  };
}

/** What TSS has when a trainee signs, and what TIS knows of the programme membership. */
export async function signed(tss: TssStore, tis: TisStore | undefined, s: CojSignature): Promise<CojSignature> {
  await tss.saveSignature(s);
  if (tis) await tis.addProgrammeMembership(s.programmeMembershipTisId, s.traineeTisId);
  return s;
}

/** Many signed CoJs at once, as a burst arrives: the TSS profiles and TIS programme memberships in bulk inserts. */
export async function seedSignedCojs(tss: TssStore, tis: TisStore, count: number): Promise<CojSignature[]> {
  const signatures = Array.from({ length: count }, () => newSignature());
  await tss.saveSignaturesOfNewTrainees(signatures);
  await tis.addNewProgrammeMemberships(signatures.map((s) => ({ id: s.programmeMembershipTisId, personId: s.traineeTisId })));
  return signatures;
}

/** What the CoJ test files talk to: a Temporal client and the TSS and TIS stores. */
export interface CojTestStores {
  client: Client;
  tss: TssStore;
  tis: TisStore;
  close(): Promise<void>;
}

export async function openCojStores(config: Config): Promise<CojTestStores> {
  const client = await testClient(config);
  const tssDb = await openMongo(config.mongo.tss, 'test');
  const tisDb = await openMongo(config.mongo.tis, 'test');
  const tss = new TssStore(tssDb.db, config.mongo.tssProfilesCollection);
  await tss.createTssIndexes(); // the tests stand for TSS, the store's owner
  return {
    client,
    tss,
    tis: new TisStore(tisDb.db),
    async close() {
      await client.connection.close();
      await tssDb.close();
      await tisDb.close();
    },
  };
}

/**
 * What TIS's sync does once TCS has stored a CoJ (for tests that control when it happens): the profile's
 * CoJ gets the signature's signedAt and version, and syncedAt = `at` unless it had one (a re-signed CoJ
 * keeps the earlier syncedAt: domain.md). Returns the syncedAt the profile then shows.
 */
export async function syncBack(tss: TssStore, s: CojSignature, at = new Date()): Promise<Date> {
  const profile = await tss.profiles.findOne({ traineeTisId: s.traineeTisId });
  const i = profile?.programmeMemberships.findIndex((pm) => pm.tisId === s.programmeMembershipTisId) ?? -1;
  if (!profile || i < 0) throw new Error(`no profile holds programme membership ${s.programmeMembershipTisId}`);
  const syncedAt = profile.programmeMemberships[i]?.conditionsOfJoining?.syncedAt ?? at;
  await tss.profiles.updateOne({ _id: profile._id }, { $set: { [`programmeMemberships.${i}.conditionsOfJoining`]: { signedAt: new Date(s.signedAt), version: s.version, syncedAt } } });
  return syncedAt;
}
