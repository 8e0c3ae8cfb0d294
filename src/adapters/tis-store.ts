/**
 * TIS's store as the reference CoJ receiver keeps it (standing for TIS-TCS's MySQL tables): programme
 * memberships, each holding its CoJ, like TCS's ConditionsOfJoining(programmeMembershipUuid PK, signedAt,
 * version): at most one per programme membership. Keeping the CoJ in the programme membership's document
 * makes the receiver's common case one database operation (the programme membership's existence and the
 * write are one conditional update), a resend a no-op, and no transaction needed.
 */
import type { Collection, Db } from 'mongodb';
import { TIS_COLLECTIONS, type CojVersion } from '../shared/coj';
import { OneAtATime } from './one-at-a-time';

export interface TisCoj {
  signedAt: Date;
  version: CojVersion;
  receivedAt: Date;
}

export interface TisProgrammeMembershipDoc {
  _id: string;
  personId: string;
  conditionsOfJoining?: TisCoj;
}

export type StoreOutcome = 'inserted' | 'updated' | 'unchanged' | 'older-ignored' | 'unknown-programme-membership';

export class TisStore {
  readonly programmeMemberships: Collection<TisProgrammeMembershipDoc>;
  /** The CoJs of one programme membership are stored one at a time (see OneAtATime: FerretDB's conditional update is not atomic). */
  private readonly cojWrites = new OneAtATime();

  constructor(db: Db) {
    this.programmeMemberships = db.collection<TisProgrammeMembershipDoc>(TIS_COLLECTIONS.programmeMemberships);
  }

  async addProgrammeMembership(id: string, personId: string): Promise<void> {
    await this.programmeMemberships.updateOne({ _id: id }, { $setOnInsert: { personId } }, { upsert: true });
  }

  /** Many programme memberships TIS does not have yet, at once (a burst, for the benchmark and the tests). */
  async addNewProgrammeMemberships(list: Array<{ id: string; personId: string }>): Promise<void> {
    for (let i = 0; i < list.length; i += 500) await this.programmeMemberships.insertMany(list.slice(i, i + 500).map(({ id, personId }) => ({ _id: id, personId })));
  }

  /**
   * Keeps the newest signature: the same one again changes nothing; an older one arriving late is ignored.
   * A first delivery, by far the common case, is one operation: the update takes the programme membership
   * only if its CoJ is absent or older, and the document it returns (as it was) tells a first CoJ from a
   * newer one. Only when it takes nothing is the document read, to tell why.
   */
  storeCoj(id: string, signedAt: Date, version: CojVersion): Promise<StoreOutcome> {
    return this.cojWrites.run(id, () => this.storeCojNow(id, signedAt, version));
  }

  private async storeCojNow(id: string, signedAt: Date, version: CojVersion): Promise<StoreOutcome> {
    for (let tries = 0; tries < 5; tries++) {
      const before = await this.programmeMemberships.findOneAndUpdate(
        { _id: id, $or: [{ conditionsOfJoining: { $exists: false } }, { 'conditionsOfJoining.signedAt': { $lt: signedAt } }] },
        { $set: { conditionsOfJoining: { signedAt, version, receivedAt: new Date() } } },
        { returnDocument: 'before' }, // no projection: FerretDB's findAndModify has none (and the document is small)
      );
      if (before) return before.conditionsOfJoining ? 'updated' : 'inserted';
      const existing = await this.programmeMemberships.findOne({ _id: id }, { projection: { conditionsOfJoining: 1 } });
      if (!existing) return 'unknown-programme-membership';
      const coj = existing.conditionsOfJoining;
      if (!coj || coj.signedAt.getTime() < signedAt.getTime()) continue; // changed meanwhile: try again
      if (coj.signedAt.getTime() > signedAt.getTime()) return 'older-ignored';
      if (coj.version === version) return 'unchanged';
      // The same signature time with another version: the later message is taken.
      const result = await this.programmeMemberships.updateOne(
        { _id: id, 'conditionsOfJoining.signedAt': signedAt, 'conditionsOfJoining.version': coj.version },
        { $set: { 'conditionsOfJoining.version': version, 'conditionsOfJoining.receivedAt': new Date() } },
      );
      if (result.matchedCount === 1) return 'updated';
    }
    throw new Error(`could not store the CoJ of programme membership ${id}: it kept changing`);
  }

  /** The CoJ TIS holds for a programme membership, if any. */
  async findCoj(id: string): Promise<TisCoj | undefined> {
    return (await this.programmeMemberships.findOne({ _id: id }, { projection: { conditionsOfJoining: 1 } }))?.conditionsOfJoining ?? undefined;
  }

  /** The CoJs TIS holds for these programme memberships: at most one each. */
  async findCojs(ids: string[]): Promise<Array<TisCoj & { programmeMembershipTisId: string }>> {
    const docs = await this.programmeMemberships.find({ _id: { $in: ids }, conditionsOfJoining: { $exists: true } }, { projection: { conditionsOfJoining: 1 } }).toArray();
    return docs.map((d) => ({ programmeMembershipTisId: d._id, ...(d.conditionsOfJoining as TisCoj) }));
  }
}
