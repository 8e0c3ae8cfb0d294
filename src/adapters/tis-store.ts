/**
 * TIS's store as the reference CoJ receiver keeps it (standing for TIS-TCS's MySQL tables): programme
 * memberships, and the CoJ of each keyed by programme membership id, like TCS's
 * ConditionsOfJoining(programmeMembershipUuid PK, signedAt, version). One document per programme
 * membership, so a resend is a no-op and no transaction is needed.
 */
import type { Collection, Db } from 'mongodb';
import { TIS_COLLECTIONS, type CojVersion } from '../shared/contract';

export interface TisProgrammeMembershipDoc {
  _id: string;
  personId: string;
}

export interface TisCojDoc {
  _id: string;
  signedAt: Date;
  version: CojVersion;
  receivedAt: Date;
}

export type UpsertOutcome = 'inserted' | 'updated' | 'unchanged' | 'older-ignored';

export class TisStore {
  readonly programmeMemberships: Collection<TisProgrammeMembershipDoc>;
  readonly conditionsOfJoining: Collection<TisCojDoc>;

  constructor(db: Db) {
    this.programmeMemberships = db.collection<TisProgrammeMembershipDoc>(TIS_COLLECTIONS.programmeMemberships);
    this.conditionsOfJoining = db.collection<TisCojDoc>(TIS_COLLECTIONS.conditionsOfJoining);
  }

  /** A find by _id, not countDocuments: that runs an aggregation, which costs FerretDB several times more. */
  async programmeMembershipExists(id: string): Promise<boolean> {
    return (await this.programmeMemberships.findOne({ _id: id }, { projection: { _id: 1 } })) !== null;
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
   * The insert is tried first: a first delivery is by far the common case, and this makes it one
   * database operation instead of a read and a write; a resend finds the document there (E11000).
   */
  async upsertCoj(id: string, signedAt: Date, version: CojVersion): Promise<UpsertOutcome> {
    for (let tries = 0; tries < 5; tries++) {
      try {
        await this.conditionsOfJoining.insertOne({ _id: id, signedAt, version, receivedAt: new Date() });
        return 'inserted';
      } catch (err) {
        if ((err as { code?: number }).code !== 11000) throw err;
      }
      const existing = await this.conditionsOfJoining.findOne({ _id: id });
      if (!existing) continue; // removed meanwhile: insert again
      if (existing.signedAt.getTime() === signedAt.getTime() && existing.version === version) return 'unchanged';
      if (existing.signedAt.getTime() > signedAt.getTime()) return 'older-ignored';
      const result = await this.conditionsOfJoining.updateOne(
        { _id: id, signedAt: existing.signedAt },
        { $set: { signedAt, version, receivedAt: new Date() } },
      );
      if (result.matchedCount === 1) return 'updated';
    }
    throw new Error(`could not store the CoJ of programme membership ${id}: it kept changing`);
  }
}
