/**
 * The reference TIS sync: stands for what acknowledges a CoJ in TIS today (domain.md), TIS's change data
 * capture of TCS's ConditionsOfJoining table, tis-trainee-sync and tis-trainee-details. Beside the reference
 * CoJ receiver (which stands for TCS) it makes the local stack behave as TIS does, so that `synced` mode,
 * which waits for TSS's profile to show a signature synced back, runs end to end.
 *
 * Two ways a CoJ reaches it, as TIS's change data capture pushes each change and its sync catches up:
 *  - pushed: the receiver in the same process hands over what it has just stored (`stored`), and the CoJ is handled
 *    as soon as it is `lagMs` old (TISW_TIS_SYNC_LAG_SECONDS: the seconds to minutes TIS's sync takes);
 *  - polled, the backstop: every `pollMs` it reads the CoJs stored or updated since its position (FerretDB
 *    has no change streams: by `receivedAt`), once each is `lagMs` old, and handles any the push did not
 *    (stored while it was down, by a receiver in another process, or a push that failed). While pushes come,
 *    it polls only every BACKSTOP_POLL_MS: on FerretDB one poll decodes the whole collection (84 ms on 2,000
 *    programme memberships, whether or not it finds any), which at every second was a tenth of a core.
 * One CoJ is handled one way at a time (OneAtATime), and a signature the push handled is skipped, without a
 * read, when the poll comes to it. The push reads nothing back: it has the CoJ as the receiver stored it and,
 * for a programme membership's first CoJ in TIS, knows there is no record yet (unless the poll has just made
 * one: polledAt). On FerretDB every read is a scan of its collection. For each:
 *   1. copies it onto the trainee's TSS profile, through TSS's optimistic lock (TssStore.applyTisSync):
 *      the programme membership's `conditionsOfJoining` gets TIS's `signedAt` and `version`, and `syncedAt`
 *      = now the first time, else the earlier one (a re-signed CoJ keeps its earlier syncedAt, as
 *      tis-trainee-sync does). A profile or programme membership TSS does not have: logged and skipped;
 *      a newer signature in TSS than TIS's (on its way to TIS): left alone;
 *   2. the first time only (it has no record of the programme membership yet), publishes `COJ_RECEIVED`
 *      (CojReceivedEvent) to COJ_RECEIVED_QUEUE when that is set: JSON, persistent, confirmed, messageId
 *      `coj-received-<programme membership id>`;
 *   3. records what it copied in its own collection in TIS's store (tis-trainee-sync's record), the first
 *      syncedAt with it: one write, after the publish, so that a record says nothing is owed.
 *
 * Restarts: the position is a document in TIS's store, moved only past CoJs whose steps all finished, so a
 * CoJ stored while the sync was down, or one it was handling when killed, is handled when it comes back.
 * Handling one again changes nothing: step 1 finds the signature already there (no write, and the
 * syncedAt the profile has), step 2 is owed until the record exists (a kill between the publish and the
 * record repeats that one publish, under the same messageId and with the same body), and step 3 keeps the
 * first syncedAt.
 */
import type { Config } from '../config/config';
import type { Logger } from '../config/logger';
import { AmqpPublisher } from '../adapters/amqp';
import { cojReceivedQueue } from '../adapters/amqp-topology';
import { openMongo } from '../adapters/mongo';
import { TisStore, type StoreResult, type TisReceivedCoj, type TisSyncedCojDoc, type TisSyncPosition } from '../adapters/tis-store';
import { TssStore } from '../adapters/tss-store';
import type { CojReceivedEvent } from '../shared/coj';
import { inTurns } from '../shared/in-turns';
import { OneAtATime } from '../adapters/one-at-a-time';

export interface TisSyncOptions {
  tisStore: TisStore;
  tssStore: TssStore;
  log: Logger;
  /** How old a stored CoJ must be before it is synced: config.local.tisSyncLagMs. */
  lagMs: number;
  /** Where COJ_RECEIVED goes (config.coj.receivedQueue); none: not published. */
  receivedQueue?: { name: string; amqpUrl: string; confirmTimeoutMs: number };
  /** How often it looks for CoJs while none is pushed. @default 1000 */
  pollMs?: number;
}

export interface TisSync {
  /** Resolves once it has read its position and polls. */
  ready: Promise<void>;
  /**
   * The receiver has just stored (or updated) the CoJ of this programme membership: handled once it is lagMs
   * old. `result`: what the store said, where the receiver has it (else the CoJ is read back).
   */
  stored(programmeMembershipTisId: string, result?: StoreResult): void;
  /** Stops polling, lets the CoJs in hand finish, and closes its AMQP connection. */
  stop(): Promise<void>;
}

/**
 * A CoJ is read no sooner than this after TIS stamped `receivedAt`, whatever the lag: the stamp is taken
 * before the write lands, and a CoJ whose write landed after the position passed its stamp would be missed.
 */
const MIN_AGE_MS = 500;
/** How often it polls while the push delivers (module comment): what a failed push left is caught this late. */
const BACKSTOP_POLL_MS = 5000;
/** How long the poll's records stay in mind for a push that comes after it (polledAt). */
const POLLED_MEMORY_MS = 60_000;
/** CoJs read per query; the next page follows at once. */
const PAGE = 200;
/** CoJs of a page handled at once (different programme memberships; those of one trainee meet at TSS's lock). */
const AT_ONCE = 8;

export function startTisSync(options: TisSyncOptions): TisSync {
  const log = options.log.child({ component: 'tis-sync' });
  const { tisStore: tis, tssStore: tss } = options;
  const queue = options.receivedQueue;
  const publisher = queue
    ? new AmqpPublisher({ url: queue.amqpUrl, confirmTimeoutMs: queue.confirmTimeoutMs, connectionName: 'tisw-tis-sync', log, queues: [cojReceivedQueue(queue.name)] })
    : undefined;
  let stopping = false;
  let wake: (() => void) | undefined;
  let position: TisSyncPosition | undefined;
  /** Whether a CoJ was pushed since the last poll began: the next one is then only a backstop. */
  let pushedSincePoll = false;
  const turns = new OneAtATime();
  /** Signatures the push handled that the poll has not come to yet (the poll removes each as it passes it). */
  const pushed = new Map<string, string>();
  const pushes = new Set<Promise<void>>();
  /** Ends each push still waiting out its lag (stop). */
  const lagWaits = new Set<() => void>();
  /**
   * CoJs the poll recorded in the last POLLED_MEMORY_MS, oldest first: a push for one of them reads the record
   * even of a first CoJ (the poll came to it before the push, under load).
   */
  const polledAt = new Map<string, number>();

  /** Steps 1-3 of the module comment for one CoJ; resolves once all are done, true when this call recorded it (false: skipped). */
  async function syncOne(coj: TisReceivedCoj, record: TisSyncedCojDoc | undefined): Promise<boolean> {
    const programmeMembershipTisId = coj._id;
    const { signedAt, version } = coj.conditionsOfJoining;
    const copied = record !== undefined && record.signedAt.getTime() === signedAt.getTime() && record.version === version;
    if (copied) return false;
    const applied = await tss.applyTisSync({ traineeTisId: coj.personId, programmeMembershipTisId }, { signedAt, version }, { ...(record && { earlier: record.syncedAt }), now: new Date() });
    if (applied.outcome === 'not-found') {
      log.info({ programmeMembershipTisId, missing: applied.missing }, `CoJ not synced: TSS has no such ${applied.missing}`);
      return false;
    }
    if (applied.outcome === 'superseded') {
      log.info({ programmeMembershipTisId }, 'CoJ not synced: TSS holds a newer signature, on its way to TIS');
      return false;
    }
    const first = record === undefined;
    log.debug({ programmeMembershipTisId, outcome: applied.outcome, first }, 'CoJ synced to TSS');
    if (first && publisher && queue) {
      const event: CojReceivedEvent = {
        event: 'COJ_RECEIVED',
        traineeTisId: coj.personId,
        programmeMembershipTisId,
        conditionsOfJoining: { signedAt: signedAt.toISOString(), version, syncedAt: applied.syncedAt.toISOString() },
      };
      await publisher.publish(queue.name, event, { messageId: `coj-received-${programmeMembershipTisId}`, type: 'COJ_RECEIVED' });
    }
    await tis.recordSyncedCoj(programmeMembershipTisId, { signedAt, version, syncedAt: applied.syncedAt });
    return true;
  }

  /** Handles every CoJ due now, page by page; the position moves past each CoJ once it and all before it are done. */
  async function round(): Promise<void> {
    while (!stopping) {
      const receivedBy = new Date(Date.now() - Math.max(options.lagMs, MIN_AGE_MS));
      const page = await tis.cojsReceivedAfter(position, receivedBy, PAGE);
      if (page.length === 0) return;
      const records = await tis.syncedCojsOf(page.filter((c) => pushed.get(c._id) !== signatureOf(c)).map((c) => c._id));
      const done = await inTurns(page, AT_ONCE, async (coj) => {
        try {
          await turns.run(coj._id, async () => {
            // Passed by the poll, the push's entry goes whatever it says (one for an earlier signature too).
            const wasPushed = pushed.get(coj._id) === signatureOf(coj);
            pushed.delete(coj._id);
            if (!wasPushed && (await syncOne(coj, records.get(coj._id)))) polledAt.set(coj._id, Date.now());
          });
          return true;
        } catch (err) {
          log.warn({ programmeMembershipTisId: coj._id, err: (err as Error).message }, 'CoJ not synced yet: tried again at the next poll');
          return false;
        }
      });
      const finished = done.indexOf(false) < 0 ? page.length : done.indexOf(false);
      const last = page[finished - 1];
      if (last) {
        position = { receivedAt: last.conditionsOfJoining.receivedAt, programmeMembershipTisId: last._id };
        await tis.saveSyncPosition(position);
      }
      if (finished < page.length || page.length < PAGE) return;
    }
  }

  async function run(): Promise<void> {
    while (!stopping) {
      pushedSincePoll = false;
      for (const [id, at] of polledAt) {
        if (at > Date.now() - POLLED_MEMORY_MS) break;
        polledAt.delete(id);
      }
      try {
        await round();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'TIS sync: a poll failed; trying again');
      }
      if (stopping) return;
      await new Promise<void>((resolve) => {
        const pollMs = options.pollMs ?? 1000;
        const timer = setTimeout(resolve, pushedSincePoll ? Math.max(pollMs, BACKSTOP_POLL_MS) : pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** The pushed way (module comment): the CoJ as stored (read back only where the receiver did not hand it over), its lag waited out, handled unless the poll has. */
  async function push(programmeMembershipTisId: string, result: StoreResult | undefined): Promise<void> {
    const coj = result?.stored ?? (await tis.receivedCoj(programmeMembershipTisId));
    if (!coj) return;
    const dueInMs = coj.conditionsOfJoining.receivedAt.getTime() + options.lagMs - Date.now();
    if (dueInMs > 0) {
      await new Promise<void>((resolve) => {
        const end = (): void => {
          clearTimeout(timer);
          lagWaits.delete(end);
          resolve();
        };
        const timer = setTimeout(end, dueInMs);
        lagWaits.add(end);
      });
    }
    if (stopping) return;
    await turns.run(programmeMembershipTisId, async () => {
      const signature = signatureOf(coj);
      if (pushed.get(programmeMembershipTisId) === signature) return;
      // A programme membership's first CoJ in TIS has no record yet, unless the poll has just made it: no read.
      const noRecordYet = result?.outcome === 'inserted' && !polledAt.has(programmeMembershipTisId);
      const record = noRecordYet ? undefined : (await tis.syncedCojsOf([programmeMembershipTisId])).get(programmeMembershipTisId);
      // Only what this push recorded is left for the poll to pass over: one the poll had already copied, or
      // skipped, would leave an entry it never comes back for.
      if (await syncOne(coj, record)) pushed.set(programmeMembershipTisId, signature);
    });
  }

  const ready = (async () => {
    // Its own store's index (it owns it locally), and the one TSS declares on its profiles (tis-trainee-details,
    // which this stands for, owns them): a failure to make them slows it down but stops nothing.
    await Promise.all([tis.createSyncIndexes(), tss.createTssIndexes()]).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'TIS sync: could not create its indexes'));
    position = await tis.syncPosition();
  })();
  const running = ready.then(run);
  void running.catch((err: unknown) => log.error({ err: (err as Error).message }, 'TIS sync stopped'));

  return {
    ready,
    stored(programmeMembershipTisId, result) {
      if (stopping) return;
      pushedSincePoll = true;
      const pushing = push(programmeMembershipTisId, result)
        .catch((err: unknown) => log.warn({ programmeMembershipTisId, err: (err as Error).message }, 'CoJ not synced on its push: the next poll takes it'))
        .finally(() => pushes.delete(pushing));
      pushes.add(pushing);
    },
    async stop() {
      stopping = true;
      wake?.();
      // A push still waiting out its lag is left to the poll of the next start (its position has not passed it).
      for (const end of [...lagWaits]) end();
      await Promise.all([running.catch(() => undefined), ...pushes]);
      await publisher?.close();
    },
  };
}

/** A signature as the push and the poll compare it. */
const signatureOf = (coj: TisReceivedCoj): string => `${coj.conditionsOfJoining.signedAt.getTime()}|${coj.conditionsOfJoining.version}`;

/** The sync as `tisw receivers` runs it: opens TIS's and TSS's stores from the config; stop() closes them too. */
export async function startConfiguredTisSync(config: Config, log: Logger): Promise<TisSync> {
  const tisDb = await openMongo(config.mongo.tis, 'tisw-tis-sync');
  const tssDb = await openMongo(config.mongo.tss, 'tisw-tis-sync').catch(async (err: unknown) => {
    await tisDb.close();
    throw err;
  });
  const { receivedQueue } = config.coj;
  const sync = startTisSync({
    tisStore: new TisStore(tisDb.db),
    tssStore: new TssStore(tssDb.db, config.mongo.tssProfilesCollection),
    log,
    lagMs: config.local.tisSyncLagMs,
    ...(receivedQueue !== undefined && { receivedQueue: { name: receivedQueue, amqpUrl: config.amqp.url, confirmTimeoutMs: config.amqp.confirmTimeoutMs } }),
  });
  return {
    ready: sync.ready,
    stored: (programmeMembershipTisId, result) => sync.stored(programmeMembershipTisId, result),
    async stop() {
      await sync.stop();
      await Promise.allSettled([tisDb.close(), tssDb.close()]);
    },
  };
}
