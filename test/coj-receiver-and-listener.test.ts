import { testConfig } from './support/system';
import { newSignature, openCojStores, type CojTestStores } from './support/coj';

/**
 * The TIS store behind the reference receiver: what keeps a resend harmless. What the receiver and the
 * acknowledgement listener do with each kind of bad or repeated message is in test/bad-input.test.ts.
 */
describe('the TIS CoJ receiver', () => {
  const config = testConfig();
  let stores: CojTestStores;

  beforeAll(async () => {
    stores = await openCojStores(config);
  });
  afterAll(async () => {
    await stores.close();
  });

  it('stores a resent CoJ once, and ignores an older signature arriving after a newer one', async () => {
    const { tis } = stores;
    const s = newSignature();
    await tis.addProgrammeMembership(s.programmeMembershipTisId, s.traineeTisId);
    expect(await tis.upsertCoj(s.programmeMembershipTisId, new Date(s.signedAt), 'GG10')).toBe('inserted');
    expect(await tis.upsertCoj(s.programmeMembershipTisId, new Date(s.signedAt), 'GG10')).toBe('unchanged');
    expect(await tis.upsertCoj(s.programmeMembershipTisId, new Date(Date.parse(s.signedAt) - 1000), 'GG9')).toBe('older-ignored');
    expect(await tis.conditionsOfJoining.findOne({ _id: s.programmeMembershipTisId })).toMatchObject({ signedAt: new Date(s.signedAt), version: 'GG10' });
  });
});
