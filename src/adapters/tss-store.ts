/**
 * TSS's store: trainee profiles (database `trainee`, collection `TraineeProfile` in TIS; the collection is
 * configured, TSS_PROFILES_COLLECTION), each with `programmeMemberships[].conditionsOfJoining = { signedAt,
 * version, syncedAt }` (domain.md). tis-workflows reads it to find CoJs that TIS has not confirmed (signed,
 * syncedAt null) and, in reply mode, writes `syncedAt` when TIS acknowledges one, as TSS's COJ_RECEIVED did.
 *
 * **Every write goes through TSS's own optimistic lock.** TSS saves a profile through Spring Data with an
 * `@Version` field `version`: its save matches only if `version` is still the one it read, and increments
 * it. A write of ours that did not do the same would be erased by TSS's next save of a copy read before it
 * (or would make that save fail). So each write here reads the profile, filters on its `_id` and the
 * `version` read, increments `version` in the same update and, when it matched nothing (someone saved the
 * profile meanwhile), reads again, up to MAX_TRIES times.
 *
 * Array elements are addressed by index (`programmeMemberships.3.…`) with the element's id in the filter,
 * not with the positional `$` or arrayFilters: FerretDB (local runs, tests) does not support arrayFilters
 * and silently matches nothing with `$`.
 *
 * It is TSS's database: tis-workflows creates no index in it. TSS_PROFILE_INDEXES lists those its reads
 * rely on, for `tisw health` to report and for the local stand-ins of TSS to create.
 */
import type { Collection, Db, Filter, ObjectId, UpdateFilter } from 'mongodb';
import { showsSynced, type CojSignature, type CojVersion } from '../shared/coj';
import { ProfileKeptChangingError } from '../shared/errors';
import { createIndexes, findWhereIn, type IndexSpec } from './mongo';

export interface ConditionsOfJoiningDoc {
  signedAt: Date;
  version: CojVersion;
  syncedAt: Date | null;
}

export interface ProgrammeMembershipDoc {
  tisId: string;
  conditionsOfJoining?: ConditionsOfJoiningDoc | null;
}

export interface TraineeProfileDoc {
  /** TSS's own id (an ObjectId there); profiles made here use the trainee's TIS id. */
  _id: string | ObjectId;
  traineeTisId: string;
  /** Spring Data's `@Version`: TSS saves only if it is unchanged, and increments it. */
  version: number;
  programmeMemberships: ProgrammeMembershipDoc[];
}

/** A signature whose sync back to TSS is awaited. */
export type AwaitedSync = Pick<CojSignature, 'traineeTisId' | 'programmeMembershipTisId' | 'signedAt'>;

export type SyncOutcome = 'synced' | 'already-synced' | 'superseded' | 'not-found';

/** What copying TIS's CoJ back onto the profile did (the reference TIS sync). */
export type TisSyncOutcome =
  | { outcome: 'synced' | 'unchanged'; syncedAt: Date }
  /** TSS holds a newer signature than TIS's: it is on its way to TIS, and its own sync will follow. */
  | { outcome: 'superseded' }
  | { outcome: 'not-found'; missing: 'profile' | 'programme membership' };

/** Reads of a profile by the trainee's id (sync watcher, reconciliation, every write here) need this one; unique, as TSS declares it. */
export const TSS_PROFILE_INDEXES: readonly IndexSpec[] = [
  {
    key: { traineeTisId: 1 },
    unique: true,
    why: 'every write of syncedAt (reply mode), the sync watcher and the reference TIS sync look profiles up by traineeTisId; without it each lookup reads the whole collection, and two profiles of one trainee could exist',
  },
];

/** Trainees per query of syncedAmong: one `$in` of this many is one index scan on MongoDB. */
const TRAINEES_PER_QUERY = 1000;

/** Conflicting saves in a row before a write gives up: TSS saves a profile a few times a session, not continuously. */
const MAX_TRIES = 10;

/**
 * What a locked write decides from the profile it read: nothing to write (`done`), or an update of the
 * profile as read (filter and update are extended with the lock). `null`: no profile.
 */
type Decision<R> = { done: R } | { insert: TraineeProfileDoc; result: R } | { filter?: Filter<TraineeProfileDoc>; update: UpdateFilter<TraineeProfileDoc>; result: R };

export class TssStore {
  readonly profiles: Collection<TraineeProfileDoc>;

  /** `collectionName`: config.mongo.tssProfilesCollection (TSS_PROFILES_COLLECTION). */
  constructor(
    private readonly db: Db,
    collectionName: string,
  ) {
    this.profiles = db.collection<TraineeProfileDoc>(collectionName);
  }

  /**
   * For TSS's stand-ins only (the reference TIS sync, which stands for tis-trainee-details, and the tests):
   * the indexes TSS itself declares. The worker and the client never call it.
   */
  async createTssIndexes(): Promise<void> {
    await createIndexes(this.profiles, TSS_PROFILE_INDEXES);
  }

  /**
   * What TSS does when a trainee signs (its save comes before any event): the CoJ set on the programme
   * membership, with syncedAt null. Used by the demo and the tests; TSS itself owns this write.
   */
  async saveSignature(s: CojSignature): Promise<void> {
    const coj = signedCoj(s);
    await this.writeLocked(s.traineeTisId, `save the CoJ of programme membership ${s.programmeMembershipTisId}`, (profile): Decision<void> => {
      if (!profile) return { insert: newProfile(s.traineeTisId, [{ tisId: s.programmeMembershipTisId, conditionsOfJoining: coj }]), result: undefined };
      const i = profile.programmeMemberships.findIndex((pm) => pm.tisId === s.programmeMembershipTisId);
      if (i < 0) return { update: { $push: { programmeMemberships: { tisId: s.programmeMembershipTisId, conditionsOfJoining: coj } } }, result: undefined };
      return { filter: { [`programmeMemberships.${i}.tisId`]: s.programmeMembershipTisId }, update: { $set: { [`programmeMemberships.${i}.conditionsOfJoining`]: coj } }, result: undefined };
    });
  }

  /**
   * Many signatures at once, each of a trainee the store does not have yet (a burst, for the benchmarks and
   * the tests): inserts of 500 new profiles (version 0), where saveSignature takes a read and a write for each.
   */
  async saveSignaturesOfNewTrainees(list: CojSignature[]): Promise<void> {
    await this.insertNewProfiles(list.map((s) => newProfile(s.traineeTisId, [{ tisId: s.programmeMembershipTisId, conditionsOfJoining: signedCoj(s) }])));
  }

  /** Trainees TSS does not have yet, with their programme memberships and no CoJ (`tisw demo trainees`). */
  async saveNewTrainees(list: Array<{ traineeTisId: string; programmeMembershipTisIds: string[] }>): Promise<void> {
    await this.insertNewProfiles(list.map((t) => newProfile(t.traineeTisId, t.programmeMembershipTisIds.map((tisId) => ({ tisId })))));
  }

  private async insertNewProfiles(profiles: TraineeProfileDoc[]): Promise<void> {
    for (let i = 0; i < profiles.length; i += 500) await this.profiles.insertMany(profiles.slice(i, i + 500));
  }

  /** Sets syncedAt on this signature of the CoJ, unless a newer signature replaced it (reply mode: TIS's reply did what COJ_RECEIVED did). */
  recordSynced(s: Pick<CojSignature, 'traineeTisId' | 'programmeMembershipTisId' | 'signedAt'>, syncedAt: Date): Promise<SyncOutcome> {
    const signedAt = new Date(s.signedAt);
    return this.writeLocked(s.traineeTisId, `record syncedAt for programme membership ${s.programmeMembershipTisId}`, (profile): Decision<SyncOutcome> => {
      const i = profile?.programmeMemberships.findIndex((pm) => pm.tisId === s.programmeMembershipTisId) ?? -1;
      const coj = profile?.programmeMemberships[i]?.conditionsOfJoining;
      if (!profile || !coj) return { done: 'not-found' };
      if (coj.signedAt.getTime() !== signedAt.getTime()) return { done: 'superseded' };
      if (coj.syncedAt) return { done: 'already-synced' };
      const path = `programmeMemberships.${i}`;
      return { filter: { [`${path}.tisId`]: s.programmeMembershipTisId }, update: { $set: { [`${path}.conditionsOfJoining.syncedAt`]: syncedAt } }, result: 'synced' };
    });
  }

  /**
   * What TIS's sync does (tis-trainee-sync, then tis-trainee-details; domain.md): TIS's CoJ copied onto the
   * profile's programme membership, with `syncedAt` = the earlier one if there was one (`earlierSyncedAt`, the
   * sync's own record, or the profile's), else `now`. A signature already there with a syncedAt is left as it is.
   */
  applyTisSync(
    target: { traineeTisId: string; programmeMembershipTisId: string },
    tisCoj: { signedAt: Date; version: CojVersion },
    syncedAt: { earlier?: Date; now: Date },
  ): Promise<TisSyncOutcome> {
    return this.writeLocked(target.traineeTisId, `sync the CoJ of programme membership ${target.programmeMembershipTisId}`, (profile): Decision<TisSyncOutcome> => {
      if (!profile) return { done: { outcome: 'not-found', missing: 'profile' } };
      const i = profile.programmeMemberships.findIndex((pm) => pm.tisId === target.programmeMembershipTisId);
      if (i < 0) return { done: { outcome: 'not-found', missing: 'programme membership' } };
      const coj = profile.programmeMemberships[i]?.conditionsOfJoining;
      if (coj && coj.signedAt.getTime() > tisCoj.signedAt.getTime()) return { done: { outcome: 'superseded' } };
      if (coj?.syncedAt && coj.signedAt.getTime() === tisCoj.signedAt.getTime() && coj.version === tisCoj.version) return { done: { outcome: 'unchanged', syncedAt: coj.syncedAt } };
      const kept = syncedAt.earlier ?? coj?.syncedAt ?? syncedAt.now;
      const path = `programmeMemberships.${i}`;
      return {
        filter: { [`${path}.tisId`]: target.programmeMembershipTisId },
        update: { $set: { [`${path}.conditionsOfJoining`]: { signedAt: tisCoj.signedAt, version: tisCoj.version, syncedAt: kept } } },
        result: { outcome: 'synced', syncedAt: kept },
      };
    });
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
   * The CoJs of these trainees as their profiles hold them now, by TSS's key (traineeTisId, the index TSS
   * has), for syncedAmong and the tests; the caller batches (findWhereIn says how each server is asked).
   */
  async cojsOfTrainees(traineeTisIds: string[]): Promise<Array<{ traineeTisId: string; programmeMembershipTisId: string; signedAt: string; syncedAt: string | null }>> {
    const profiles = await findWhereIn(this.db, this.profiles, 'traineeTisId', traineeTisIds, { traineeTisId: 1, programmeMemberships: 1 });
    return profiles.flatMap((profile) =>
      (profile.programmeMemberships ?? []).flatMap((pm) => {
        const coj = pm.conditionsOfJoining;
        if (!coj) return [];
        return [{ traineeTisId: profile.traineeTisId, programmeMembershipTisId: pm.tisId, signedAt: coj.signedAt.toISOString(), syncedAt: coj.syncedAt ? coj.syncedAt.toISOString() : null }];
      }),
    );
  }

  /**
   * Which of the awaited signatures TSS's profiles show synced back by TIS (`showsSynced`: this signedAt,
   * syncedAt set): the one read of the sync watcher's rounds and of the waits in a worker. By TSS's key,
   * TRAINEES_PER_QUERY trainees per query, never a read per CoJ; `afterQuery` runs after each (the watcher
   * heartbeats there).
   */
  async syncedAmong<W extends AwaitedSync>(awaited: Iterable<W>, afterQuery?: () => void): Promise<{ synced: Array<{ awaited: W; syncedAt: string }>; profilesRead: number; queries: number }> {
    const byTrainee = new Map<string, W[]>();
    for (const w of awaited) {
      const list = byTrainee.get(w.traineeTisId);
      if (list) list.push(w);
      else byTrainee.set(w.traineeTisId, [w]);
    }
    const trainees = [...byTrainee.keys()];
    const synced: Array<{ awaited: W; syncedAt: string }> = [];
    let profilesRead = 0;
    let queries = 0;
    for (let i = 0; i < trainees.length; i += TRAINEES_PER_QUERY) {
      const cojs = await this.cojsOfTrainees(trainees.slice(i, i + TRAINEES_PER_QUERY));
      queries++;
      profilesRead += new Set(cojs.map((c) => c.traineeTisId)).size;
      for (const coj of cojs) {
        for (const w of byTrainee.get(coj.traineeTisId) ?? []) {
          if (w.programmeMembershipTisId === coj.programmeMembershipTisId && showsSynced(coj, w.signedAt)) synced.push({ awaited: w, syncedAt: coj.syncedAt });
        }
      }
      afterQuery?.();
    }
    return { synced, profilesRead, queries };
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

  /**
   * The optimistic lock, TSS's way (module comment): reads the trainee's profile, asks `decide` what to
   * write, and writes it only where `version` is still the one read, incrementing it; a profile saved
   * meanwhile is read again. A new profile is inserted with version 0 (a duplicate: created meanwhile, read again).
   */
  private async writeLocked<R>(traineeTisId: string, what: string, decide: (profile: TraineeProfileDoc | null) => Decision<R>): Promise<R> {
    for (let tries = 0; tries < MAX_TRIES; tries++) {
      const profile = await this.profiles.findOne({ traineeTisId });
      const decision = decide(profile);
      if ('done' in decision) return decision.done;
      if ('insert' in decision) {
        try {
          await this.profiles.insertOne(decision.insert);
          return decision.result;
        } catch (err) {
          if ((err as { code?: number }).code === 11000) continue;
          throw err;
        }
      }
      if (!profile) throw new Error(`${what}: an update needs the profile it was decided on`);
      const { $inc, ...rest } = decision.update;
      const result = await this.profiles.updateOne(
        // A profile saved before it had a version (none in the document) matches null; $inc then starts it at 1.
        { ...decision.filter, _id: profile._id, version: profile.version ?? null } as Filter<TraineeProfileDoc>,
        { ...rest, $inc: { ...$inc, version: 1 } } as UpdateFilter<TraineeProfileDoc>,
      );
      if (result.matchedCount === 1) return decision.result;
    }
    // Not the trainee's id: it is personal data, and this message reaches logs.
    throw new ProfileKeptChangingError(`could not ${what}: the trainee's profile was saved by someone else at each of ${MAX_TRIES} tries`);
  }
}

/** The CoJ as TSS sets it when the trainee signs: not yet confirmed by TIS. */
function signedCoj(s: CojSignature): ConditionsOfJoiningDoc {
  return { signedAt: new Date(s.signedAt), version: s.version, syncedAt: null };
}

/** A trainee's first profile, as TSS inserts it: version 0. */
function newProfile(traineeTisId: string, programmeMemberships: ProgrammeMembershipDoc[]): TraineeProfileDoc {
  return { _id: traineeTisId, traineeTisId, version: 0, programmeMemberships };
}
