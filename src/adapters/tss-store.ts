/**
 * TSS's store: trainee profiles, each with `programmeMemberships[].conditionsOfJoining = { signedAt,
 * version, syncedAt }` (domain.md). tis-workflows reads it to find CoJs that TIS has not confirmed
 * (signed, syncedAt null) and writes `syncedAt` when TIS acknowledges one, as TSS's COJ_RECEIVED did.
 *
 * Array elements are addressed by index (`programmeMemberships.3.…`) with the element's id and
 * signature in the filter, not with the positional `$` or arrayFilters: FerretDB (local runs, tests)
 * does not support arrayFilters and silently matches nothing with `$`. The filter makes the write safe
 * if the array changed in between: it then matches nothing, and we read again.
 */
import type { Collection, Db } from 'mongodb';
import { TSS_COLLECTIONS, type CojSignature, type CojVersion } from '../shared/coj';

export interface ProgrammeMembershipDoc {
  tisId: string;
  conditionsOfJoining?: { signedAt: Date; version: CojVersion; syncedAt: Date | null } | null;
}

export interface TraineeProfileDoc {
  _id: string;
  traineeTisId: string;
  programmeMemberships: ProgrammeMembershipDoc[];
}

export type SyncOutcome = 'synced' | 'already-synced' | 'superseded' | 'not-found';

export class TssStore {
  readonly profiles: Collection<TraineeProfileDoc>;

  constructor(db: Db) {
    this.profiles = db.collection<TraineeProfileDoc>(TSS_COLLECTIONS.traineeProfiles);
  }

  async ensureIndexes(): Promise<void> {
    await this.profiles.createIndex({ traineeTisId: 1 }, { unique: true });
    await this.profiles.createIndex({ 'programmeMemberships.tisId': 1 });
  }

  /**
   * What TSS does when a trainee signs (its save comes before any event): the CoJ set on the programme
   * membership, with syncedAt null. Used by the demo and the tests; TSS itself owns this write.
   */
  async saveSignature(s: CojSignature): Promise<void> {
    const coj = signedCoj(s);
    for (let tries = 0; tries < 5; tries++) {
      const profile = await this.profiles.findOne({ traineeTisId: s.traineeTisId });
      if (!profile) {
        try {
          await this.profiles.insertOne(newProfile(s));
          return;
        } catch (err) {
          if ((err as { code?: number }).code === 11000) continue; // created meanwhile
          throw err;
        }
      }
      const i = profile.programmeMemberships.findIndex((pm) => pm.tisId === s.programmeMembershipTisId);
      const result =
        i < 0
          ? await this.profiles.updateOne(
              { _id: profile._id, programmeMemberships: { $size: profile.programmeMemberships.length } },
              { $push: { programmeMemberships: { tisId: s.programmeMembershipTisId, conditionsOfJoining: coj } } },
            )
          : await this.profiles.updateOne(
              { _id: profile._id, [`programmeMemberships.${i}.tisId`]: s.programmeMembershipTisId },
              { $set: { [`programmeMemberships.${i}.conditionsOfJoining`]: coj } },
            );
      if (result.matchedCount === 1) return;
    }
    throw new Error(`could not save the CoJ of programme membership ${s.programmeMembershipTisId}: the profile kept changing`);
  }

  /**
   * Many signatures at once, each of a trainee the store does not have yet (a burst, for the benchmark and
   * the tests): inserts of 500 profiles, where saveSignature takes a read and a write for each.
   */
  async saveSignaturesOfNewTrainees(list: CojSignature[]): Promise<void> {
    for (let i = 0; i < list.length; i += 500) await this.profiles.insertMany(list.slice(i, i + 500).map(newProfile));
  }

  /** Sets syncedAt on this signature of the CoJ, unless a newer signature replaced it. */
  async recordSynced(s: Pick<CojSignature, 'traineeTisId' | 'programmeMembershipTisId' | 'signedAt'>, syncedAt: Date): Promise<SyncOutcome> {
    const signedAt = new Date(s.signedAt);
    for (let tries = 0; tries < 5; tries++) {
      const profile = await this.profiles.findOne({ traineeTisId: s.traineeTisId });
      const i = profile?.programmeMemberships.findIndex((pm) => pm.tisId === s.programmeMembershipTisId) ?? -1;
      const coj = profile?.programmeMemberships[i]?.conditionsOfJoining;
      if (!profile || !coj) return 'not-found';
      if (coj.signedAt.getTime() !== signedAt.getTime()) return 'superseded';
      if (coj.syncedAt) return 'already-synced';
      const path = `programmeMemberships.${i}`;
      const result = await this.profiles.updateOne(
        { _id: profile._id, [`${path}.tisId`]: s.programmeMembershipTisId, [`${path}.conditionsOfJoining.signedAt`]: signedAt },
        { $set: { [`${path}.conditionsOfJoining.syncedAt`]: syncedAt } },
      );
      if (result.matchedCount === 1) return 'synced';
    }
    throw new Error(`could not record syncedAt for programme membership ${s.programmeMembershipTisId}: the profile kept changing`);
  }

  /**
   * Signed CoJs that TIS has not confirmed (syncedAt null), signed in [from, before). The query selects
   * profiles; the elements are picked here, since conditions on an array path may each match a different
   * element. (Not $unwind: FerretDB's drops the other fields of the document.)
   */
  async findUnsynced(window: { from?: Date; before: Date }): Promise<CojSignature[]> {
    const inWindow = (d: Date): boolean => d < window.before && (!window.from || d >= window.from);
    const profiles = this.profiles.find(
      {
        'programmeMemberships.conditionsOfJoining.syncedAt': null,
        'programmeMemberships.conditionsOfJoining.signedAt': { $lt: window.before, ...(window.from && { $gte: window.from }) },
      },
      { projection: { traineeTisId: 1, programmeMemberships: 1 } },
    );
    const found: CojSignature[] = [];
    for await (const profile of profiles) {
      for (const pm of profile.programmeMemberships) {
        const coj = pm.conditionsOfJoining;
        if (coj && coj.syncedAt === null && inWindow(coj.signedAt)) {
          found.push({ traineeTisId: profile.traineeTisId, programmeMembershipTisId: pm.tisId, signedAt: coj.signedAt.toISOString(), version: coj.version });
        }
      }
    }
    return found;
  }

  /**
   * The CoJs of these trainees as their profiles hold them now: one query by TSS's key (traineeTisId, the
   * index TSS has), for the sync watcher. The caller batches; FerretDB and MongoDB both take an `$in` of
   * a thousand ids in one index scan.
   */
  async cojsOfTrainees(traineeTisIds: string[]): Promise<Array<{ traineeTisId: string; programmeMembershipTisId: string; signedAt: string; syncedAt: string | null }>> {
    const profiles = await this.profiles.find({ traineeTisId: { $in: traineeTisIds } }, { projection: { traineeTisId: 1, programmeMemberships: 1 } }).toArray();
    return profiles.flatMap((profile) =>
      (profile.programmeMemberships ?? []).flatMap((pm) => {
        const coj = pm.conditionsOfJoining;
        if (!coj) return [];
        return [{ traineeTisId: profile.traineeTisId, programmeMembershipTisId: pm.tisId, signedAt: coj.signedAt.toISOString(), syncedAt: coj.syncedAt ? coj.syncedAt.toISOString() : null }];
      }),
    );
  }

  async findCoj(programmeMembershipTisId: string): Promise<(CojSignature & { syncedAt: string | null }) | undefined> {
    const profile = await this.profiles.findOne({ 'programmeMemberships.tisId': programmeMembershipTisId });
    const coj = profile?.programmeMemberships.find((pm) => pm.tisId === programmeMembershipTisId)?.conditionsOfJoining;
    if (!profile || !coj) return undefined;
    return {
      traineeTisId: profile.traineeTisId,
      programmeMembershipTisId,
      signedAt: coj.signedAt.toISOString(),
      version: coj.version,
      syncedAt: coj.syncedAt ? coj.syncedAt.toISOString() : null,
    };
  }
}

/** The CoJ as TSS sets it when the trainee signs: not yet confirmed by TIS. */
function signedCoj(s: CojSignature): NonNullable<ProgrammeMembershipDoc['conditionsOfJoining']> {
  return { signedAt: new Date(s.signedAt), version: s.version, syncedAt: null };
}

/** A trainee's first profile, holding this one signed programme membership. */
function newProfile(s: CojSignature): TraineeProfileDoc {
  return { _id: s.traineeTisId, traineeTisId: s.traineeTisId, programmeMemberships: [{ tisId: s.programmeMembershipTisId, conditionsOfJoining: signedCoj(s) }] };
}
