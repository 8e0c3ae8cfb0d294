import { openMongo, type MongoStore } from '../src/adapters/mongo';
import { TisStore } from '../src/adapters/tis-store';
import { TssStore } from '../src/adapters/tss-store';
import { PROGRAMME_MEMBERSHIP_TIS_ID, TRAINEE_TIS_ID } from '../src/shared/coj';
import { tisw } from './support/processes';
import { testConfig } from './support/system';

describe('tisw demo trainees N', () => {
  const config = testConfig();
  let tssDb: MongoStore;
  let tisDb: MongoStore;
  let tss: TssStore;
  let tis: TisStore;

  beforeAll(async () => {
    tssDb = await openMongo(config.mongo.tss, 'test');
    tisDb = await openMongo(config.mongo.tis, 'test');
    tss = new TssStore(tssDb.db, config.mongo.tssProfilesCollection);
    tis = new TisStore(tisDb.db);
  });
  afterAll(async () => {
    await tssDb.close();
    await tisDb.close();
  });

  it("makes N trainees whose programme membership TIS and TSS both know, with no CoJ yet, and prints their ids as JSON", async () => {
    const { code, stdout, stderr } = await tisw(['demo', 'trainees', '3', '--json']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const trainees = JSON.parse(stdout) as Array<{ traineeTisId: string; programmeMembershipTisId: string }>;

    expect(trainees).toHaveLength(3);
    for (const t of trainees) {
      expect(Object.keys(t).sort()).toEqual(['programmeMembershipTisId', 'traineeTisId']);
      expect(t.traineeTisId).toMatch(TRAINEE_TIS_ID);
      expect(t.programmeMembershipTisId).toMatch(PROGRAMME_MEMBERSHIP_TIS_ID);
      expect(await tis.programmeMemberships.findOne({ _id: t.programmeMembershipTisId })).toEqual({ _id: t.programmeMembershipTisId, personId: t.traineeTisId });
      const profile = await tss.profiles.findOne({ traineeTisId: t.traineeTisId });
      expect(profile).toMatchObject({ version: 0, programmeMemberships: [{ tisId: t.programmeMembershipTisId }] });
      expect(profile?.programmeMemberships[0]?.conditionsOfJoining).toBeUndefined();
    }
    expect(new Set(trainees.map((t) => t.traineeTisId)).size).toBe(3);
  });

  it('prints one line per trainee without --json', async () => {
    const { code, stdout } = await tisw(['demo', 'trainees', '2']);
    expect(code).toBe(0);
    expect(stdout.match(/^ {2}trainee \d+ {2}programme membership [0-9a-f-]{36}$/gm)).toHaveLength(2);
  });

  it('refuses, exit 1 and nothing written, when a MongoDB URI names another machine; a count that is not a number is a usage error', async () => {
    const before = await tis.programmeMemberships.countDocuments({});
    const refused = await tisw(['demo', 'trainees', '2', '--json'], { TIS_MONGODB_URI: 'mongodb://tis-db.example.org:27017/tisw_test' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/local databases only .*TIS_MONGODB_URI names tis-db\.example\.org: nothing was written/);
    expect(await tis.programmeMemberships.countDocuments({})).toBe(before);
    expect((await tisw(['demo', 'trainees', 'many'])).code).toBe(2);
  });
});
