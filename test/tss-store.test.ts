import { randomUUID } from 'node:crypto';
import type { Collection } from 'mongodb';
import { openMongo, type MongoStore } from '../src/adapters/mongo';
import { TssStore, type TraineeProfileDoc } from '../src/adapters/tss-store';
import { ProfileKeptChangingError } from '../src/shared/errors';
import { testConfig } from './support/system';
import { newSignature } from './support/coj';

/**
 * TSS's store under TSS's own optimistic lock (Spring Data's `@Version`): TSS saves a profile only where
 * `version` is the one it read, and increments it. Every write of ours must do the same.
 */
describe("TSS's store: every write goes through TSS's optimistic lock", () => {
  const config = testConfig();
  let mongo: MongoStore;
  let tss: TssStore;

  beforeAll(async () => {
    mongo = await openMongo(config.mongo.tss, 'test');
    tss = new TssStore(mongo.db, config.mongo.tssProfilesCollection);
    await tss.createTssIndexes();
  });
  afterAll(() => mongo.close());
  afterEach(() => jest.restoreAllMocks());

  const profileOf = async (traineeTisId: string): Promise<TraineeProfileDoc> => {
    const profile = await tss.profiles.findOne({ traineeTisId });
    if (!profile) throw new Error('no profile');
    return profile;
  };

  /** TSS saving the copy of the profile it read, as Spring Data's MongoTemplate does with a `@Version` field. */
  const tssSaves = (read: TraineeProfileDoc, changed: Partial<TraineeProfileDoc> = {}) =>
    tss.profiles.replaceOne({ _id: read._id, version: read.version }, { ...read, ...changed, version: read.version + 1 });

  it('writes the profile in the collection TSS_PROFILES_COLLECTION names (TraineeProfile by default)', async () => {
    const s = newSignature();
    await tss.saveSignature(s);
    expect(config.mongo.tssProfilesCollection).toBe('TraineeProfile');
    expect(await mongo.db.collection('TraineeProfile').countDocuments({ traineeTisId: s.traineeTisId })).toBe(1);
  });

  it('inserts new profiles with version 0, and each write of ours increments it by one', async () => {
    const [a, b] = [newSignature(), newSignature()];
    await tss.saveSignaturesOfNewTrainees([a, b]);
    expect((await profileOf(a.traineeTisId)).version).toBe(0);
    await tss.saveSignature({ ...a, programmeMembershipTisId: randomUUID() }); // a second programme membership
    await tss.saveSignature(a); // the first re-signed
    expect(await tss.recordSynced(a, new Date())).toBe('synced');
    expect(await tss.recordSynced(a, new Date())).toBe('already-synced'); // nothing written
    expect((await profileOf(a.traineeTisId)).version).toBe(3);
    expect((await profileOf(b.traineeTisId)).version).toBe(0);
  });

  it("a stale save by TSS after our syncedAt write matches nothing, instead of erasing syncedAt", async () => {
    const s = newSignature();
    await tss.saveSignature(s);
    const tssCopy = await profileOf(s.traineeTisId); // TSS reads the profile (e.g. the trainee's session)

    const syncedAt = new Date();
    expect(await tss.recordSynced(s, syncedAt)).toBe('synced');
    const stale = await tssSaves(tssCopy, { programmeMemberships: tssCopy.programmeMemberships });

    expect(stale.matchedCount).toBe(0); // Spring Data raises OptimisticLockingFailureException; TSS reads again
    const after = await profileOf(s.traineeTisId);
    expect(after.programmeMemberships[0]?.conditionsOfJoining?.syncedAt).toEqual(syncedAt);
    expect(after.version).toBe(tssCopy.version + 1);
    // TSS's save of a fresh copy goes through, and keeps syncedAt.
    expect((await tssSaves(after)).matchedCount).toBe(1);
    expect((await tss.findCoj(s.programmeMembershipTisId))?.syncedAt).toBe(syncedAt.toISOString());
  });

  /** Makes TSS save the profile between our read of it and our write, `times` times (or at every read). */
  const tssSavesBetweenOurReadAndWrite = (times: number) => {
    const profiles = tss.profiles as Collection<TraineeProfileDoc>;
    const findOne = profiles.findOne.bind(profiles) as (filter: object) => Promise<TraineeProfileDoc | null>;
    let saves = 0;
    jest.spyOn(profiles, 'findOne').mockImplementation((async (filter: object) => {
      const read = await findOne(filter);
      if (read && saves < times) {
        saves++;
        const fresh = (await findOne({ _id: read._id })) as TraineeProfileDoc;
        await tssSaves(fresh, { programmeMemberships: [...fresh.programmeMemberships, { tisId: randomUUID() }] });
      }
      return read;
    }) as never);
    return { saves: () => saves };
  };

  it('a write of ours that meets a TSS save reads the profile again and writes on top of it: neither change is lost', async () => {
    const s = newSignature();
    await tss.saveSignature(s);
    const before = await profileOf(s.traineeTisId);
    const tssSaving = tssSavesBetweenOurReadAndWrite(2);

    expect(await tss.recordSynced(s, new Date())).toBe('synced');

    jest.restoreAllMocks();
    const after = await profileOf(s.traineeTisId);
    expect(tssSaving.saves()).toBe(2);
    expect(after.programmeMemberships).toHaveLength(3); // TSS's two saves each added one
    expect(after.programmeMemberships[0]?.conditionsOfJoining?.syncedAt).toEqual(expect.any(Date));
    expect(after.version).toBe(before.version + 3);
  });

  it('gives up with a named, retryable error when TSS saves the profile at every try', async () => {
    const s = newSignature();
    await tss.saveSignature(s);
    tssSavesBetweenOurReadAndWrite(Number.POSITIVE_INFINITY);

    const failure = await tss.recordSynced(s, new Date()).catch((err: unknown) => err);

    expect(failure).toBeInstanceOf(ProfileKeptChangingError);
    expect(String((failure as Error).message)).toMatch(/could not record syncedAt for programme membership .*: the trainee's profile was saved by someone else at each of \d+ tries/);
    jest.restoreAllMocks();
    expect((await tss.findCoj(s.programmeMembershipTisId))?.syncedAt).toBeNull();
  });

  it("copies TIS's CoJ back with syncedAt now the first time, and keeps the earlier syncedAt for a re-signed CoJ", async () => {
    const s = newSignature();
    await tss.saveSignature(s);
    const target = { traineeTisId: s.traineeTisId, programmeMembershipTisId: s.programmeMembershipTisId };
    const first = new Date(Date.now() - 60_000);
    expect(await tss.applyTisSync(target, { signedAt: new Date(s.signedAt), version: 'GG10' }, { now: first })).toEqual({ outcome: 'synced', syncedAt: first });
    expect(await tss.applyTisSync(target, { signedAt: new Date(s.signedAt), version: 'GG10' }, { now: new Date() })).toEqual({ outcome: 'unchanged', syncedAt: first });

    const resigned = { ...s, signedAt: new Date().toISOString() };
    await tss.saveSignature(resigned); // TSS saves it with syncedAt null
    expect((await tss.findCoj(s.programmeMembershipTisId))?.syncedAt).toBeNull();
    const applied = await tss.applyTisSync(target, { signedAt: new Date(resigned.signedAt), version: 'GG10' }, { earlier: first, now: new Date() });

    expect(applied).toEqual({ outcome: 'synced', syncedAt: first });
    expect(await tss.findCoj(s.programmeMembershipTisId)).toMatchObject({ signedAt: resigned.signedAt, syncedAt: first.toISOString() });
    expect(await tss.applyTisSync({ ...target, programmeMembershipTisId: randomUUID() }, { signedAt: new Date(), version: 'GG10' }, { now: new Date() })).toEqual({ outcome: 'not-found', missing: 'programme membership' });
  });

  it('reads the CoJs of a few trainees and of many alike (on FerretDB: equality queries for a few, one $in for many)', async () => {
    const list = Array.from({ length: 150 }, () => newSignature());
    await tss.saveSignaturesOfNewTrainees(list);
    const synced = list[3] as (typeof list)[number];
    await tss.applyTisSync(synced, { signedAt: new Date(synced.signedAt), version: synced.version }, { now: new Date('2026-02-01T10:00:00.000Z') });
    const expected = (some: typeof list) =>
      some.map((c) => ({ traineeTisId: c.traineeTisId, programmeMembershipTisId: c.programmeMembershipTisId, signedAt: c.signedAt, syncedAt: c === synced ? '2026-02-01T10:00:00.000Z' : null }));
    const byPm = (a: { programmeMembershipTisId: string }, b: { programmeMembershipTisId: string }) => a.programmeMembershipTisId.localeCompare(b.programmeMembershipTisId);
    for (const some of [list.slice(0, 10), list]) {
      const unknown = String(Date.now()); // a trainee TSS has no profile of: nothing, no error
      const found = await tss.cojsOfTrainees([...some.map((c) => c.traineeTisId), unknown]);
      expect(found.sort(byPm)).toEqual(expected(some).sort(byPm));
    }
  });
});
