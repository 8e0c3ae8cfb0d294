import type { Channel, ChannelModel } from 'amqplib';
import { loadConfig, type Config } from '../src/config/config';
import { AmqpPublisher, connectAmqp } from '../src/adapters/amqp';
import { cojReceivedQueue } from '../src/adapters/amqp-topology';
import { openMongo, type MongoStore } from '../src/adapters/mongo';
import { TisStore } from '../src/adapters/tis-store';
import { TssStore, type TraineeProfileDoc } from '../src/adapters/tss-store';
import { startReceivers } from '../src/receivers/run';
import { startTisSync } from '../src/receivers/tis-sync';
import { QUEUES } from '../src/shared/amqp';
import type { CojSignature, CojSignedEvent } from '../src/shared/coj';
import { cojReceivedEvent } from '../src/shared/messages';
import { eventually } from '../src/shared/poll';
import { newSignature } from './support/coj';
import { isolatedEsr, type IsolatedEsr } from './support/esr';
import { startTisw } from './support/processes';
import { testLogger } from './support/system';

/**
 * The reference TIS sync (TIS's change data capture + tis-trainee-sync + tis-trainee-details): each CoJ the
 * reference receiver stores is copied back onto TSS's profile after the lag, with syncedAt, and announced
 * once as COJ_RECEIVED. Its stores and vhost are this file's own: its position is one per TIS store.
 */
describe('the reference TIS sync', () => {
  const LAG_SECONDS = 1;
  const RECEIVED_QUEUE = 'tisw.test.coj.received';
  let isolated: IsolatedEsr;
  let env: NodeJS.ProcessEnv;
  let config: Config;
  let tssDb: MongoStore;
  let tisDb: MongoStore;
  let tss: TssStore;
  let tis: TisStore;
  let amqp: ChannelModel;
  let channel: Channel;

  beforeAll(async () => {
    isolated = await isolatedEsr('tis-sync', { cojStores: true });
    env = { ...isolated.env, COJ_ACKNOWLEDGEMENT: 'synced', TISW_TIS_SYNC_LAG_SECONDS: String(LAG_SECONDS), COJ_RECEIVED_QUEUE: RECEIVED_QUEUE };
    config = loadConfig(env);
    tssDb = await openMongo(config.mongo.tss, 'test');
    tisDb = await openMongo(config.mongo.tis, 'test');
    tss = new TssStore(tssDb.db, config.mongo.tssProfilesCollection);
    tis = new TisStore(tisDb.db);
    amqp = await connectAmqp({ url: config.amqp.url, connectionName: 'test-tis-sync' });
    channel = await amqp.createChannel();
    const queue = cojReceivedQueue(RECEIVED_QUEUE);
    await channel.assertQueue(queue.name, queue.options);
  });
  afterAll(async () => {
    await amqp.close();
    await tssDb.close();
    await tisDb.close();
    await isolated.close();
  });
  afterEach(() => jest.restoreAllMocks());

  /** The trainees' profiles in TSS (no CoJ yet) and their programme memberships in TIS. */
  async function traineesKnownToBoth(count: number): Promise<CojSignature[]> {
    const signatures = Array.from({ length: count }, () => newSignature());
    await tss.saveNewTrainees(signatures.map((s) => ({ traineeTisId: s.traineeTisId, programmeMembershipTisIds: [s.programmeMembershipTisId] })));
    await tis.addNewProgrammeMemberships(signatures.map((s) => ({ id: s.programmeMembershipTisId, personId: s.traineeTisId })));
    return signatures;
  }

  /** Every COJ_RECEIVED on the queue so far, taken off it. */
  async function takeCojReceived(): Promise<Array<{ messageId: string; persistent: boolean; contentType: string; body: unknown }>> {
    const taken = [];
    for (let m = await channel.get(RECEIVED_QUEUE, { noAck: true }); m; m = await channel.get(RECEIVED_QUEUE, { noAck: true })) {
      taken.push({ messageId: String(m.properties.messageId), persistent: m.properties.deliveryMode === 2, contentType: String(m.properties.contentType), body: JSON.parse(m.content.toString()) as unknown });
    }
    return taken;
  }

  const syncedOnTss = (s: Pick<CojSignature, 'programmeMembershipTisId' | 'signedAt'>) =>
    eventually(`CoJ ${s.programmeMembershipTisId} signed ${s.signedAt} synced onto TSS's profile`, async () => {
      const coj = await tss.findCoj(s.programmeMembershipTisId);
      return coj && coj.signedAt === new Date(s.signedAt).toISOString() && coj.syncedAt ? coj : undefined;
    }, 30_000);

  it("copies a CoJ the receiver stored onto TSS's profile after the lag, announces it once, and a re-signed CoJ keeps the earlier syncedAt", async () => {
    const receivers = await startReceivers(config, testLogger(config)); // synced mode: the sync runs with them
    const publisher = new AmqpPublisher({ ...config.amqp, connectionName: 'test-tss', log: testLogger(config) });
    try {
      await receivers.ready;
      const [s] = (await traineesKnownToBoth(1)) as [CojSignature];
      const tssSigns = async (signature: CojSignature): Promise<void> => {
        await tss.saveSignature(signature);
        const event: CojSignedEvent = { programmeMembershipTisId: signature.programmeMembershipTisId, conditionsOfJoining: { signedAt: signature.signedAt, version: signature.version, syncedAt: null } };
        await publisher.publish(QUEUES.cojSigned, event, { messageId: `test-${signature.programmeMembershipTisId}-${signature.signedAt}` });
      };

      await tssSigns(s);
      const synced = await syncedOnTss(s);
      const stored = await tis.findCoj(s.programmeMembershipTisId);
      expect(stored).toBeDefined();
      // Synced no sooner than the lag after TIS stored it.
      expect(Date.parse(synced.syncedAt ?? '')).toBeGreaterThanOrEqual((stored?.receivedAt.getTime() ?? Infinity) + LAG_SECONDS * 1000);
      await eventually('COJ_RECEIVED published', async () => {
        const record = (await tis.syncedCojsOf([s.programmeMembershipTisId])).get(s.programmeMembershipTisId);
        return record ? true : undefined; // recorded once its COJ_RECEIVED is published
      });
      const announced = await takeCojReceived();
      expect(announced).toEqual([{ messageId: `coj-received-${s.programmeMembershipTisId}`, persistent: true, contentType: 'application/json', body: expect.anything() as unknown }]);
      expect(cojReceivedEvent.parse(announced[0]?.body)).toEqual({
        event: 'COJ_RECEIVED',
        traineeTisId: s.traineeTisId,
        programmeMembershipTisId: s.programmeMembershipTisId,
        conditionsOfJoining: { signedAt: new Date(s.signedAt).toISOString(), version: 'GG10', syncedAt: synced.syncedAt },
      });

      const resigned: CojSignature = { ...s, signedAt: new Date().toISOString(), version: 'GG9' };
      await tssSigns(resigned);
      const resynced = await syncedOnTss(resigned);
      expect(resynced).toMatchObject({ signedAt: new Date(resigned.signedAt).toISOString(), version: 'GG9', syncedAt: synced.syncedAt });
      await eventually('the re-signed CoJ recorded by the sync', async () =>
        (await tis.syncedCojsOf([s.programmeMembershipTisId])).get(s.programmeMembershipTisId)?.signedAt.getTime() === Date.parse(resigned.signedAt) ? true : undefined,
      );
      expect(await takeCojReceived()).toEqual([]); // the first time only
    } finally {
      await publisher.close();
      await receivers.stop();
    }
  });

  it('takes a CoJ the receiver has just stored at once, as change data capture pushes the change, not at its next poll', async () => {
    const [s] = (await traineesKnownToBoth(1)) as [CojSignature];
    await tss.saveSignature(s);
    const polls = jest.spyOn(tis, 'cojsReceivedAfter');
    const sync = startTisSync({ tisStore: tis, tssStore: tss, log: testLogger(config), lagMs: 0, pollMs: 3_600_000 });
    try {
      await sync.ready;
      // Its first poll read, before the CoJ exists; the next is an hour away.
      await eventually('its first poll', async () => (polls.mock.calls.length > 0 ? true : undefined));
      await polls.mock.results[0]?.value;
      const stored = await tis.storeCoj(s.programmeMembershipTisId, new Date(s.signedAt), s.version);
      expect(stored.outcome).toBe('inserted');
      // As the receiver beside it hands it over: the CoJ as stored, and that it is the first, so nothing is read back.
      const readsBack = [jest.spyOn(tis, 'receivedCoj'), jest.spyOn(tis, 'syncedCojsOf')];
      sync.stored(s.programmeMembershipTisId, stored);
      const synced = await syncedOnTss(s);
      expect(polls).toHaveBeenCalledTimes(1);
      for (const read of readsBack) expect(read).not.toHaveBeenCalled();
      expect((await tis.syncedCojsOf([s.programmeMembershipTisId])).get(s.programmeMembershipTisId)).toMatchObject({ syncedAt: new Date(synced.syncedAt ?? '') });
    } finally {
      await sync.stop();
    }
  });

  it('a push of a first CoJ that the poll has already recorded (the poll came first, under load) announces it no second time', async () => {
    const [s] = (await traineesKnownToBoth(1)) as [CojSignature];
    await tss.saveSignature(s);
    const versionOf = async (): Promise<number | undefined> => (await tss.profiles.findOne({ traineeTisId: s.traineeTisId }))?.version;
    const signedVersion = await versionOf();
    const receivedQueue = { name: RECEIVED_QUEUE, amqpUrl: config.amqp.url, confirmTimeoutMs: config.amqp.confirmTimeoutMs };
    const sync = startTisSync({ tisStore: tis, tssStore: tss, log: testLogger(config), lagMs: 0, pollMs: 100, receivedQueue });
    let stopped = false;
    try {
      await sync.ready;
      const stored = await tis.storeCoj(s.programmeMembershipTisId, new Date(s.signedAt), s.version);
      expect(stored.outcome).toBe('inserted');
      await eventually('the poll to record it', async () => ((await tis.syncedCojsOf([s.programmeMembershipTisId])).size === 1 ? true : undefined), 30_000);
      sync.stored(s.programmeMembershipTisId, stored); // the receiver's push, late
      stopped = true;
      await sync.stop(); // once the push has finished
      expect((await takeCojReceived()).map((m) => m.messageId)).toEqual([`coj-received-${s.programmeMembershipTisId}`]);
      expect(await versionOf()).toBe((signedVersion ?? NaN) + 1); // one write of the profile: the poll's
    } finally {
      if (!stopped) await sync.stop();
      await takeCojReceived();
    }
  });

  it("meets TSS's saves through the lock: a save between its read and its write is kept, and TSS's stale copy cannot erase syncedAt", async () => {
    const [s] = (await traineesKnownToBoth(1)) as [CojSignature];
    const syncsTss = new TssStore(tssDb.db, config.mongo.tssProfilesCollection);
    const profiles = syncsTss.profiles;
    const findOne = profiles.findOne.bind(profiles) as (filter: object) => Promise<TraineeProfileDoc | null>;
    const tssSaves = (read: TraineeProfileDoc, changed: Partial<TraineeProfileDoc> = {}) =>
      profiles.replaceOne({ _id: read._id, version: read.version }, { ...read, ...changed, version: read.version + 1 });
    // TSS saves the profile (a second programme membership) just after the sync's first read of it.
    let tssSaved = false;
    jest.spyOn(profiles, 'findOne').mockImplementation((async (filter: object) => {
      const read = await findOne(filter);
      if (read && !tssSaved) {
        tssSaved = true;
        expect((await tssSaves(read, { programmeMemberships: [...read.programmeMemberships, { tisId: 'added-by-tss' }] })).matchedCount).toBe(1);
      }
      return read;
    }) as never);
    const tssCopy = (await findOne({ traineeTisId: s.traineeTisId })) as TraineeProfileDoc; // TSS's copy, read before any of it

    const sync = startTisSync({ tisStore: tis, tssStore: syncsTss, log: testLogger(config), lagMs: 0, pollMs: 100 });
    try {
      await sync.ready;
      await tis.storeCoj(s.programmeMembershipTisId, new Date(s.signedAt), s.version);
      const synced = await syncedOnTss(s);

      const profile = (await findOne({ traineeTisId: s.traineeTisId })) as TraineeProfileDoc;
      expect(tssSaved).toBe(true);
      expect(profile.programmeMemberships.map((pm) => pm.tisId)).toEqual([s.programmeMembershipTisId, 'added-by-tss']);
      expect((await tssSaves(tssCopy)).matchedCount).toBe(0);
      expect((await tss.findCoj(s.programmeMembershipTisId))?.syncedAt).toBe(synced.syncedAt);
    } finally {
      await sync.stop();
      await takeCojReceived();
    }
  });

  describe('as `tisw receivers` runs it, killed and restarted', () => {
    const receivers = () => startTisw('receivers', env);
    /** Each profile as TSS wrote it (version 0) plus one sync: nothing synced twice. */
    const versionsOf = async (list: CojSignature[]): Promise<number[]> =>
      (await tss.profiles.find({ traineeTisId: { $in: list.map((s) => s.traineeTisId) } }).toArray()).map((p) => p.version);
    const countSynced = (list: CojSignature[]): Promise<number> =>
      tss.profiles.countDocuments({ traineeTisId: { $in: list.map((s) => s.traineeTisId) }, 'programmeMemberships.conditionsOfJoining.syncedAt': { $ne: null } });
    const storedByTis = async (list: CojSignature[]): Promise<void> => {
      for (const s of list) await tis.storeCoj(s.programmeMembershipTisId, new Date(s.signedAt), s.version);
    };
    const allSynced = (list: CojSignature[]) => eventually(`${list.length} CoJs synced`, async () => ((await countSynced(list)) === list.length ? true : undefined), 120_000);
    const allRecorded = (list: CojSignature[]) =>
      eventually(`${list.length} CoJs recorded by the sync`, async () => ((await tis.syncedCojsOf(list.map((s) => s.programmeMembershipTisId))).size === list.length ? true : undefined), 60_000);
    const announcedOf = (messages: Awaited<ReturnType<typeof takeCojReceived>>): string[] => messages.map((m) => (m.body as { programmeMembershipTisId: string }).programmeMembershipTisId).sort();

    it('syncs the CoJs stored while it was down when it comes back, each once, each announced once', async () => {
      const before = await traineesKnownToBoth(5);
      const whileDown = await traineesKnownToBoth(5);
      let child = receivers();
      try {
        await storedByTis(before);
        await allSynced(before);
        // Killed only once each is recorded (published, then recorded): a kill between TSS's write and the
        // record republishes under the same messageId, as the next case shows, which is not what this one asks.
        await allRecorded(before);
        const syncedAt = await Promise.all(before.map(async (s) => (await tss.findCoj(s.programmeMembershipTisId))?.syncedAt));
        await child.kill();
        await storedByTis(whileDown);

        child = receivers();
        await allSynced(whileDown);
        await eventually('10 COJ_RECEIVED', async () => ((await channel.checkQueue(RECEIVED_QUEUE)).messageCount >= 10 ? true : undefined), 30_000);
        expect(await Promise.all(before.map(async (s) => (await tss.findCoj(s.programmeMembershipTisId))?.syncedAt))).toEqual(syncedAt);
        expect(await versionsOf([...before, ...whileDown])).toEqual(Array(10).fill(1));
        expect(announcedOf(await takeCojReceived())).toEqual([...before, ...whileDown].map((s) => s.programmeMembershipTisId).sort());
      } finally {
        await child.stop();
      }
    }, 180_000);

    it('killed in the middle of a batch, it misses none and writes no profile twice; a repeated COJ_RECEIVED carries the same messageId and body', async () => {
      const burst = await traineesKnownToBoth(150);
      let child = receivers();
      try {
        await storedByTis(burst);
        await eventually('the sync under way', async () => ((await countSynced(burst)) > 0 ? true : undefined), 60_000, { intervalMs: 20 });
        await child.kill();

        child = receivers();
        await allSynced(burst);
        await allRecorded(burst); // each recorded once published: every COJ_RECEIVED is on the queue
        expect(await versionsOf(burst)).toEqual(Array(150).fill(1));
        const announced = await takeCojReceived();
        expect([...new Set(announcedOf(announced))]).toEqual(burst.map((s) => s.programmeMembershipTisId).sort());
        for (const m of announced) {
          const pm = (m.body as { programmeMembershipTisId: string }).programmeMembershipTisId;
          expect(m.messageId).toBe(`coj-received-${pm}`);
          expect(announced.filter((other) => other.messageId === m.messageId).map((other) => other.body)).toEqual(announced.filter((other) => other.messageId === m.messageId).map(() => m.body));
        }
      } finally {
        await child.stop();
      }
    }, 240_000);
  });
});
