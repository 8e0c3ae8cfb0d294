/**
 * TIS's store as the reference CoJ receiver keeps it (standing for TIS-TCS's MySQL tables): programme
 * memberships, each holding its CoJ, like TCS's ConditionsOfJoining(programmeMembershipUuid PK, signedAt,
 * version): at most one per programme membership. Keeping the CoJ in the programme membership's document
 * makes the receiver's common case one database operation (the programme membership's existence and the
 * write are one conditional update), a resend a no-op, and no transaction needed.
 *
 * The reference TIS sync keeps its own records here too (tis-trainee-sync's): what it copied to TSS for each
 * programme membership, with the first syncedAt, and its position.
 */
import type { Collection, Db } from 'mongodb';
import { TIS_COLLECTIONS, type CojVersion } from '../shared/coj';
import { OneAtATime } from './one-at-a-time';
import { findWhereIn } from './mongo';

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

/**
 * The reference TIS sync's record of one programme membership's CoJ as it copied it onto TSS's profile
 * (what tis-trainee-sync keeps): the first syncedAt, kept for later signatures, and whether COJ_RECEIVED
 * is still to be published.
 */
export interface TisSyncedCojDoc {
  /** The programme membership's id. */
  _id: string;
  /** When it was first synced; later signatures keep it (domain.md). */
  syncedAt: Date;
  /** The signature last copied onto TSS's profile. */
  signedAt: Date;
  version: CojVersion;
}

/** Where the reference TIS sync has got to: the last CoJ it finished, in (receivedAt, programme membership id) order. */
export interface TisSyncPosition {
  receivedAt: Date;
  programmeMembershipTisId: string;
}

interface TisSyncPositionDoc extends TisSyncPosition {
  _id: 'position';
}

/** A programme membership with a CoJ TIS stored: what the sync reads. */
export type TisReceivedCoj = TisProgrammeMembershipDoc & { conditionsOfJoining: TisCoj };

export type StoreOutcome = 'inserted' | 'updated' | 'unchanged' | 'older-ignored' | 'unknown-programme-membership';

export interface StoreResult {
  outcome: StoreOutcome;
  /** The programme membership as stored, where the store had it in hand (an insert, or a newer signature): what the TIS sync's push would read back. */
  stored?: TisReceivedCoj;
}

export class TisStore {
  readonly programmeMemberships: Collection<TisProgrammeMembershipDoc>;
  readonly syncedCojs: Collection<TisSyncedCojDoc>;
  private readonly syncPositions: Collection<TisSyncPositionDoc>;
  /** The CoJs of one programme membership are stored one at a time (see OneAtATime: FerretDB's conditional update is not atomic). */
  private readonly cojWrites = new OneAtATime();

  constructor(private readonly db: Db) {
    this.programmeMemberships = db.collection<TisProgrammeMembershipDoc>(TIS_COLLECTIONS.programmeMemberships);
    this.syncedCojs = db.collection<TisSyncedCojDoc>(TIS_COLLECTIONS.syncedCojs);
    this.syncPositions = db.collection<TisSyncPositionDoc>(TIS_COLLECTIONS.syncPosition);
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
  storeCoj(id: string, signedAt: Date, version: CojVersion): Promise<StoreResult> {
    return this.cojWrites.run(id, () => this.storeCojNow(id, signedAt, version));
  }

  private async storeCojNow(id: string, signedAt: Date, version: CojVersion): Promise<StoreResult> {
    for (let tries = 0; tries < 5; tries++) {
      const conditionsOfJoining: TisCoj = { signedAt, version, receivedAt: new Date() };
      const before = await this.programmeMemberships.findOneAndUpdate(
        { _id: id, $or: [{ conditionsOfJoining: { $exists: false } }, { 'conditionsOfJoining.signedAt': { $lt: signedAt } }] },
        { $set: { conditionsOfJoining } },
        { returnDocument: 'before' }, // no projection: FerretDB's findAndModify has none (and the document is small)
      );
      if (before) return { outcome: before.conditionsOfJoining ? 'updated' : 'inserted', stored: { ...before, conditionsOfJoining } };
      const existing = await this.programmeMemberships.findOne({ _id: id }, { projection: { conditionsOfJoining: 1 } });
      if (!existing) return { outcome: 'unknown-programme-membership' };
      const coj = existing.conditionsOfJoining;
      if (!coj || coj.signedAt.getTime() < signedAt.getTime()) continue; // changed meanwhile: try again
      if (coj.signedAt.getTime() > signedAt.getTime()) return { outcome: 'older-ignored' };
      if (coj.version === version) return { outcome: 'unchanged' };
      // The same signature time with another version: the later message is taken.
      const result = await this.programmeMemberships.updateOne(
        { _id: id, 'conditionsOfJoining.signedAt': signedAt, 'conditionsOfJoining.version': coj.version },
        { $set: { 'conditionsOfJoining.version': version, 'conditionsOfJoining.receivedAt': new Date() } },
      );
      if (result.matchedCount === 1) return { outcome: 'updated' };
    }
    throw new Error(`could not store the CoJ of programme membership ${id}: it kept changing`);
  }

  /** The programme membership with the CoJ TIS stored for it, if it has one (the TIS sync's push, where the store did not hand it over). */
  async receivedCoj(id: string): Promise<TisReceivedCoj | undefined> {
    // By _id alone: the equality FerretDB hands to PostgreSQL; the CoJ is checked here.
    const doc = await this.programmeMemberships.findOne({ _id: id });
    return doc?.conditionsOfJoining ? (doc as TisReceivedCoj) : undefined;
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

  // ---- the reference TIS sync's reads and records (src/receivers/tis-sync.ts) ----

  /** The sync's own index (it owns this store locally): CoJs in the order it reads them. */
  async createSyncIndexes(): Promise<void> {
    await this.programmeMemberships.createIndex({ 'conditionsOfJoining.receivedAt': 1, _id: 1 }, { name: 'coj_receivedAt' });
  }

  /**
   * CoJs stored or updated after `after` (in (receivedAt, id) order, so that a page ends between two CoJs
   * stored in the same millisecond without losing either) and at or before `receivedBy`, oldest first.
   */
  cojsReceivedAfter(after: TisSyncPosition | undefined, receivedBy: Date, limit: number): Promise<TisReceivedCoj[]> {
    const receivedAt = 'conditionsOfJoining.receivedAt';
    return this.programmeMemberships
      .find({
        [receivedAt]: { $lte: receivedBy },
        ...(after && { $or: [{ [receivedAt]: { $gt: after.receivedAt } }, { [receivedAt]: after.receivedAt, _id: { $gt: after.programmeMembershipTisId } }] }),
      })
      .sort({ [receivedAt]: 1, _id: 1 })
      .limit(limit)
      .toArray() as Promise<TisReceivedCoj[]>;
  }

  async syncPosition(): Promise<TisSyncPosition | undefined> {
    const doc = await this.syncPositions.findOne({ _id: 'position' });
    return doc ? { receivedAt: doc.receivedAt, programmeMembershipTisId: doc.programmeMembershipTisId } : undefined;
  }

  async saveSyncPosition(position: TisSyncPosition): Promise<void> {
    await this.syncPositions.updateOne({ _id: 'position' }, { $set: position }, { upsert: true });
  }

  /** The sync's records of these programme memberships, by id. */
  async syncedCojsOf(ids: string[]): Promise<Map<string, TisSyncedCojDoc>> {
    const docs = await findWhereIn(this.db, this.syncedCojs, '_id', ids);
    return new Map(docs.map((d) => [d._id, d]));
  }

  /**
   * Records the signature copied onto TSS's profile, once everything owed for it is done (COJ_RECEIVED
   * published): no record means a first sync still owed. The first record takes `syncedAt`; later ones keep it.
   */
  async recordSyncedCoj(id: string, coj: { signedAt: Date; version: CojVersion; syncedAt: Date }): Promise<void> {
    await this.syncedCojs.updateOne({ _id: id }, { $set: { signedAt: coj.signedAt, version: coj.version }, $setOnInsert: { syncedAt: coj.syncedAt } }, { upsert: true });
  }
}
