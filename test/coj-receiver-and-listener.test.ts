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
    expect((await tis.storeCoj(s.programmeMembershipTisId, new Date(s.signedAt), 'GG10')).outcome).toBe('inserted');
    expect((await tis.storeCoj(s.programmeMembershipTisId, new Date(s.signedAt), 'GG10')).outcome).toBe('unchanged');
    expect((await tis.storeCoj(s.programmeMembershipTisId, new Date(Date.parse(s.signedAt) - 1000), 'GG9')).outcome).toBe('older-ignored');
    expect(await tis.findCoj(s.programmeMembershipTisId)).toMatchObject({ signedAt: new Date(s.signedAt), version: 'GG10' });
  });

  it('replaces a CoJ with a newer signature, and with another version signed at the same time', async () => {
    const { tis } = stores;
    const s = newSignature();
    await tis.addProgrammeMembership(s.programmeMembershipTisId, s.traineeTisId);
    expect((await tis.storeCoj(s.programmeMembershipTisId, new Date(s.signedAt), 'GG9')).outcome).toBe('inserted');
    const newer = new Date(Date.parse(s.signedAt) + 1000);
    expect((await tis.storeCoj(s.programmeMembershipTisId, newer, 'GG10')).outcome).toBe('updated');
    expect((await tis.storeCoj(s.programmeMembershipTisId, newer, 'GG9')).outcome).toBe('updated');
    expect(await tis.findCojs([s.programmeMembershipTisId])).toEqual([expect.objectContaining({ programmeMembershipTisId: s.programmeMembershipTisId, signedAt: newer, version: 'GG9' })]);
  });

  it('stores nothing for a programme membership TIS does not know', async () => {
    const { tis } = stores;
    const s = newSignature();
    expect((await tis.storeCoj(s.programmeMembershipTisId, new Date(s.signedAt), 'GG10')).outcome).toBe('unknown-programme-membership');
    expect(await tis.findCoj(s.programmeMembershipTisId)).toBeUndefined();
    expect(await tis.programmeMemberships.countDocuments({ _id: s.programmeMembershipTisId })).toBe(0);
  });
});
