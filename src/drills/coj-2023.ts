/**
 * `tisw drill coj-2023`: the CoJ incident of July 2023 on demand, the old way beside tis-workflows, on
 * throwaway resources of the local stack (src/drills/throwaway.ts), removed at the end whatever happens.
 *
 * On a private RabbitMQ node of the drill's own (the alarm would block every other user of the machine's
 * broker), with one vhost per side: the memory alarm is raised, the TIS queue has no consumer, and the same
 * CoJs are signed on both sides at the same moments:
 *   - the old way (TSS from April to August 2023): save the signature in a TSS store, then publish the event
 *     fire-and-forget (no publisher confirms, no error handling, nothing retried);
 *   - tis-workflows: save the signature, then submitCoj: the CoJ submission workflow on a worker of the
 *     drill's own (publisher confirms, resend until acknowledged, the system monitor and coj-late alerts).
 * While the alarm holds, the old TSS pod restarts; then the alarm clears, and later TIS's receiver comes back.
 * What reached TIS is read from each side's TIS store afterwards (the reference TIS receiver's), not from what
 * the side said of itself; the alerts are those tis-workflows' workers POSTed to the drill's webhook.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomInt, randomUUID } from 'node:crypto';
import type { ChannelModel } from 'amqplib';
import type { Config } from '../config/config';
import type { Logger } from '../config/logger';
import { connectAmqp } from '../adapters/amqp';
import { declareTopology } from '../adapters/amqp-topology';
import { readBrokerState } from '../adapters/broker-state';
import { openMongo } from '../adapters/mongo';
import { connectClient } from '../adapters/temporal';
import { TisStore } from '../adapters/tis-store';
import { TssStore } from '../adapters/tss-store';
import { cojSettings, submitCoj } from '../client/coj';
import { ensureMonitor, ensureSyncWatcher } from '../client/monitor';
import type { PrivateRabbitMq } from '../local/private-rabbitmq';
import { startCojReceiver } from '../receivers/coj-receiver';
import { startConfiguredTisSync } from '../receivers/tis-sync';
import { QUEUES } from '../shared/amqp';
import { cojWorkflowId, type CojAcknowledgementMode, type CojSignature, type CojStatus } from '../shared/coj';
import { quietRuntime, startWorker } from '../worker/worker';
import { bounded, pause, runOnThrowaway, stepUnlessAborted, type DrillEnd } from './drill';
import { sweepAbandonedDrills, type Throwaway } from './throwaway';

/** The drill's timeline, in ms. Seconds where the incident took hours: the mechanisms are the same. */
export const COJ_DRILL_TIMINGS = {
  /** CoJs signed on each side while the alarm holds, one every `signEveryMs`. */
  cojs: 5,
  signEveryMs: 500,
  /** From the alarm raised to the old TSS pod's restart (its connection reset). */
  podRestartAfterMs: 6000,
  /** From the alarm raised to the alarm cleared. */
  alarmHeldMs: 9000,
  /** From the alarm cleared to TIS's receiver back: long enough for the monitor's queue-idle. */
  receiverBackAfterMs: 7000,
  /** tis-workflows' CoJ SLA here, from signing (15 min in production). */
  slaMs: 8000,
  /** The monitor's interval and its idle threshold here (30 s and 5 min by default). */
  monitorEveryMs: 1000,
  idleAfterMs: 4000,
  /** tis-workflows' wait for a confirm (AMQP_CONFIRM_TIMEOUT_MS), and its first resend. */
  confirmTimeoutMs: 2000,
  resendInitialMs: 3000,
} as const;

export interface DrillAlert {
  kind: string;
  summary: string;
  resolved: boolean;
  /** ms from the alarm raised to the alert reaching the webhook. */
  atMs: number;
}

export interface DrillCoj {
  programmeMembershipTisId: string;
  signedAt: string;
}

export interface CojDrillSide {
  /** How this side publishes a signed CoJ. */
  how: string;
  signed: number;
  /** Signed CoJs that TIS's store holds with their signature at the end. */
  reachedTis: number;
  /** Signed CoJs that TIS's store does not hold at the end. */
  lost: DrillCoj[];
  /** Messages still on this side's TIS queue at the end (0: nothing is on its way any more). */
  stillQueued: number;
  /** The first alert raised (not a "resolved"), or null: nothing alerted. */
  firstAlert: DrillAlert | null;
  alerts: DrillAlert[];
  /** ms from the alarm raised to the last CoJ stored by TIS, or null when none was. */
  lastReachedTisAtMs: number | null;
}

export interface CojDrillReport extends DrillEnd {
  drill: 'coj-2023';
  /** What happened when, in ms from the alarm raised. */
  timeline: { alarmRaised: 0; brokerBlockingAtMs: number; firstSignedAtMs: number; lastSignedAtMs: number; podRestartAtMs: number; alarmClearedAtMs: number; receiverBackAtMs: number };
  node: string;
  oldWay: CojDrillSide & {
    /** Publishes made (one per CoJ) and what the publisher learnt of them: nothing. */
    publishes: number;
    podRestart: string;
  };
  tisWorkflows: CojDrillSide & {
    acknowledgement: CojAcknowledgementMode;
    /** CoJ runs that ended acknowledged. */
    acknowledged: number;
    /** Publishes of all runs (confirmed or failed); the signed count means none had to be sent again. */
    publishes: number;
    /** The last failed publish of the first run that had one, as its status shows it (null: none failed). */
    publishFailure: string | null;
  };
  swept: string[];
}

export interface CojDrillOptions {
  log: Logger;
  /** Abort it (Ctrl-C): the drill stops at its next step and removes what it made. */
  signal?: AbortSignal;
  /** Progress: one tick per step of the timeline. */
  progress?: (label: string, total: number) => { tick(n?: number): void; stop(): void };
  /** How long tis-workflows may take to deliver after TIS's receiver is back. @default 60 s */
  deliverTimeoutMs?: number;
}

const STEPS = ['private broker and both sides ready', 'memory alarm raised', 'CoJs signed', 'old TSS pod restarted', 'alarm cleared', 'TIS receiver back', 'delivered'] as const;

export async function runCojDrill(config: Config, options: CojDrillOptions): Promise<CojDrillReport> {
  return runOnThrowaway('coj-2023', config, options.log, (throwaway) => drill(config, options, throwaway));
}

async function drill(config: Config, options: CojDrillOptions, throwaway: Throwaway): Promise<Omit<CojDrillReport, keyof DrillEnd>> {
  const { log, signal } = options;
  const step = (): void => stepUnlessAborted(signal);
  const t = COJ_DRILL_TIMINGS;
  const client = await connectClient(config.temporal, 5000).catch((err: unknown) => {
    throw new Error(`no Temporal server answers at ${config.temporal.address} (TEMPORAL_ADDRESS): start the local stack with \`tisw up\` (${(err as Error).message})`);
  });
  throwaway.atTheEnd('the Temporal client', () => client.connection.close());
  const swept = await sweepAbandonedDrills('coj-2023', { client, mongo: config.mongo.tss });
  step();
  const bar = options.progress?.('coj-2023: the timeline', STEPS.length);
  throwaway.atTheEnd('the progress bar', async () => bar?.stop());

  // A broker of the drill's own, one vhost per side (the sides share the alarm, not the queue), a database each
  // holding that side's TSS store and TIS store, the webhook tis-workflows' alerts go to.
  // Not cut short by Ctrl-C: a node left starting would outlive the drill; it takes some seconds, then goes.
  const broker = await throwaway.privateRabbitMq();
  step();
  const urls = { oldWay: await sideVhost(broker, 'old-way'), tisWorkflows: await sideVhost(broker, 'tis-workflows') };
  const targets = { oldWay: throwaway.database(config.mongo.tss, 'old'), tisWorkflows: throwaway.database(config.mongo.tss, 'new') };
  const stores = { oldWay: await openStores(targets.oldWay, config, throwaway), tisWorkflows: await openStores(targets.tisWorkflows, config, throwaway) };
  const inbox = await startAlertInbox();
  throwaway.onCleanup('the alert webhook', () => inbox.close());
  step();

  // The old way: TSS's one publisher connection, opened at start-up as Spring's connection factory does.
  const tss2023 = await connectAmqp({ url: urls.oldWay, connectionName: 'tisw-drill-coj-2023-tss' });
  // After the pod restart the connection is gone; the library's own error for it is expected, not a failure.
  tss2023.on('error', () => undefined);
  throwaway.onCleanup('the old TSS publisher', () => tss2023.close().catch(() => undefined));
  const tssChannel = await tss2023.createChannel();
  await declareTopology(tssChannel);

  // tis-workflows: its own namespace, task queue, vhost and stores; alerts to the drill's webhook, no metrics port.
  const namespace = await throwaway.namespace(client);
  const own: Config = {
    ...config,
    temporal: { ...config.temporal, namespace, taskQueue: 'tisw-drill-coj-2023' },
    amqp: { url: urls.tisWorkflows, confirmTimeoutMs: t.confirmTimeoutMs },
    mongo: { ...config.mongo, tss: targets.tisWorkflows, tis: targets.tisWorkflows, esr: targets.tisWorkflows },
    coj: { ...config.coj, slaMs: t.slaMs, resendInitialMs: t.resendInitialMs, resendMaxMs: Math.max(t.resendInitialMs, 2 * t.resendInitialMs), syncWatchIntervalMs: 1000 },
    monitor: { ...config.monitor, intervalMs: t.monitorEveryMs, idleAfterMs: t.idleAfterMs },
    local: { ...config.local, tisSyncLagMs: Math.min(config.local.tisSyncLagMs, 1000) },
    alerts: { webhookUrl: inbox.url },
    metricsPort: 0,
  };
  const synced = own.coj.acknowledgement === 'synced';
  quietRuntime(own, 'error', log);
  const worker = await startWorker(own, log, { ensureClusterSetup: false });
  const running = worker.run();
  throwaway.onCleanup('the worker', async () => {
    worker.shutdown(); // nothing more where Ctrl-C has already begun it
    await running;
  });
  await bounded(worker.ready, 'the worker starting', 60_000, signal);
  const nsClient = await connectClient(own.temporal);
  throwaway.onCleanup('the namespace client', () => nsClient.connection.close());
  await ensureMonitor(nsClient, own);
  if (synced) await ensureSyncWatcher(nsClient, own);
  // TIS's sync back to TSS is part of TIS, not of its receiver: it runs throughout (it copies only what TIS stored).
  if (synced) {
    const tisSync = await startConfiguredTisSync(own, log);
    throwaway.onCleanup("TIS's sync", () => tisSync.stop());
  }
  bar?.tick();
  step();

  // The alarm. Signing starts once a publish is seen held back: the CoJs are signed while the broker blocks.
  await broker.raiseMemoryAlarm();
  const alarmAt = Date.now();
  const since = (at: number): number => at - alarmAt;
  await bounded(untilBlocked(urls.oldWay), 'the broker blocking publishers', 30_000, signal);
  const blockingAt = Date.now();
  bar?.tick();
  step();

  const signatures: CojSignature[] = [];
  let oldPublishes = 0;
  let firstSignedAt = 0;
  for (let i = 0; i < t.cojs; i++) {
    if (i > 0) await pause(t.signEveryMs, signal);
    const s: CojSignature = { programmeMembershipTisId: randomUUID(), traineeTisId: String(randomInt(1_000_000, 9_999_999)), signedAt: new Date().toISOString(), version: 'GG10' };
    firstSignedAt ||= Date.now();
    signatures.push(s);
    for (const side of [stores.oldWay, stores.tisWorkflows]) await side.tis.addProgrammeMembership(s.programmeMembershipTisId, s.traineeTisId);
    await Promise.all([
      (async () => {
        // The old way, as TSS did it: the profile saved, then the event published and forgotten. publish()
        // returns at once whatever the broker does; nothing checks, nothing retries.
        await stores.oldWay.tss.saveSignature(s);
        tssChannel.publish('', QUEUES.cojSigned, Buffer.from(JSON.stringify(cojSignedBody(s))), { persistent: true, contentType: 'application/json' });
        oldPublishes++;
      })(),
      (async () => {
        await stores.tisWorkflows.tss.saveSignature(s);
        await submitCoj(nsClient, cojSettings(own), s);
      })(),
    ]);
  }
  const lastSignedAt = Date.now();
  bar?.tick();
  step();

  await pause(Math.max(0, t.podRestartAfterMs - since(Date.now())), signal);
  resetLikeAPodRestart(tss2023);
  const podRestartAt = Date.now();
  bar?.tick();
  step();

  await pause(Math.max(0, t.alarmHeldMs - since(Date.now())), signal);
  await broker.clearMemoryAlarm();
  const clearedAt = Date.now();
  bar?.tick();
  step();

  await pause(t.receiverBackAfterMs, signal);
  for (const side of ['oldWay', 'tisWorkflows'] as const) {
    const receiver = startCojReceiver({ amqpUrl: urls[side], tisStore: stores[side].tis, log, connectionName: `tisw-drill-coj-2023-tis-${side}` });
    throwaway.onCleanup(`TIS's receiver (${side})`, () => receiver.stop());
    await bounded(receiver.ready, "TIS's receiver starting", 30_000, signal);
  }
  const receiverBackAt = Date.now();
  bar?.tick();
  step();

  // tis-workflows: every run ends acknowledged (or the time is up, and the report says what is missing).
  const ids = signatures.map((s) => s.programmeMembershipTisId);
  const results = await bounded(
    Promise.allSettled(ids.map((id) => nsClient.workflow.getHandle<() => Promise<CojStatus>>(cojWorkflowId(id)).result())),
    "tis-workflows' CoJ runs",
    options.deliverTimeoutMs ?? 60_000,
    signal,
  ).catch((err: unknown) => {
    if (signal?.aborted) throw err;
    log.error({ err: (err as Error).message }, 'the CoJ runs did not all end in time');
    return [] as Array<PromiseSettledResult<CojStatus>>;
  });
  // The old way's queue, drained by its receiver: what TIS did not get by then is not on its way.
  await bounded(untilDrained(urls.oldWay), "the old way's queue draining", 30_000, signal).catch(() => undefined);
  bar?.tick();

  const statuses = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const alerts = inbox.alerts.map((a) => ({ kind: a.kind, summary: a.summary, resolved: a.resolved, atMs: since(a.receivedAt) }));
  const oldSide = await sideFromStores(stores.oldWay.tis, urls.oldWay, signatures, [], alarmAt);
  const newSide = await sideFromStores(stores.tisWorkflows.tis, urls.tisWorkflows, signatures, alerts, alarmAt);
  return {
    drill: 'coj-2023',
    timeline: {
      alarmRaised: 0,
      brokerBlockingAtMs: since(blockingAt),
      firstSignedAtMs: since(firstSignedAt),
      lastSignedAtMs: since(lastSignedAt),
      podRestartAtMs: since(podRestartAt),
      alarmClearedAtMs: since(clearedAt),
      receiverBackAtMs: since(receiverBackAt),
    },
    node: broker.node,
    oldWay: {
      how: 'save the signed CoJ in TSS, then publish the event fire-and-forget on a plain channel (no publisher confirms, no error handling, nothing retried), as TSS did until August 2023',
      ...oldSide,
      publishes: oldPublishes,
      podRestart:
        'While the alarm held, the TSS pod restarted: its connection was reset (TCP RST, as when a pod and its network go), and the publishes the blocked broker had not read went with it (closed instead, they would have reached the queue once the alarm cleared). Nothing in TSS knew: every publish had returned at once',
    },
    tisWorkflows: {
      how: 'save the signed CoJ in TSS, then submitCoj: one CoJ submission workflow per CoJ, publishing with confirms, resending until TIS acknowledges it, alerting when late; the system monitor watching the broker and the queue',
      ...newSide,
      acknowledgement: own.coj.acknowledgement,
      acknowledged: statuses.filter((s) => s.stage === 'acknowledged').length,
      publishes: statuses.reduce((n, s) => n + s.attempts, 0),
      publishFailure: statuses.find((st) => st.lastFailure !== null)?.lastFailure ?? null,
    },
    swept,
  };
}

/** TSS's event, exactly as it published it (domain.md). */
function cojSignedBody(s: CojSignature): unknown {
  return { programmeMembershipTisId: s.programmeMembershipTisId, conditionsOfJoining: { signedAt: s.signedAt, version: s.version, syncedAt: null } };
}

/**
 * The TSS pod restarts while the alarm holds. How amqplib behaves on a blocked connection, and why this loses
 * what it loses:
 *   - RabbitMQ, in a memory alarm, stops reading from every connection that publishes, and tells it
 *     (connection.blocked, which amqplib announces it understands, and emits as 'blocked'). amqplib does
 *     nothing else with it: channel.publish() still encodes the frames and writes them to the socket, and
 *     returns true while the socket takes them; nothing is queued for later, nothing fails. The frames sit in
 *     the socket buffers: ours, and the broker's receive buffer, which the broker no longer reads. The broker
 *     has accepted none of them (no confirm could come, and on a plain channel none is asked for).
 *   - A close does not lose them: amqplib closes a blocked connection "immediately" (no connection.close
 *     handshake, which the blocked broker would not read), with a FIN after the data, and the broker reads the
 *     publishes once the alarm clears; so does a process killed outright, whose kernel sends its FIN after the
 *     data. Seen here: 5 of 5 such publishes reached the queue after the alarm.
 *   - A reset does: a connection reset (RST: a pod torn down with its network, a host gone, a load balancer
 *     dropping the flow) discards what is buffered on both ends, unread. Seen here: 0 of 5 reached the queue.
 *     That is the loss the drill shows: publishes that returned "sent" to TSS, never accepted by the broker.
 * The socket is reset, then amqplib is told its socket failed (it does not see a local reset otherwise, and
 * would hold the dead connection until its heartbeat times out, minutes later).
 */
function resetLikeAPodRestart(connection: ChannelModel): void {
  const socket = (connection.connection as unknown as { stream: Socket }).stream;
  socket.resetAndDestroy();
  socket.emit('error', new Error('connection reset: the TSS pod restarted'));
}

async function sideVhost(broker: PrivateRabbitMq, vhost: string): Promise<string> {
  await broker.ctl('add_vhost', vhost);
  await broker.ctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
  return `${broker.url}/${encodeURIComponent(vhost)}`;
}

async function openStores(target: Config['mongo']['tss'], config: Config, throwaway: Throwaway): Promise<{ tss: TssStore; tis: TisStore }> {
  const mongo = await openMongo(target, 'tisw-drill').catch((err: unknown) => {
    throw new Error(`the local MongoDB (FerretDB) does not answer at ${target.uri.replace(/\/\/[^@/]*@/, '//')}: start the local stack with \`tisw up\` (${(err as Error).message})`);
  });
  throwaway.onCleanup(`the connection to ${target.database}`, () => mongo.close());
  const tss = new TssStore(mongo.db, config.mongo.tssProfilesCollection);
  await tss.createTssIndexes(); // the drill stands for TSS, the store's owner
  return { tss, tis: new TisStore(mongo.db) };
}

/** Resolves once a publish on this vhost is held back by the alarm (the monitor's own look). */
async function untilBlocked(url: string): Promise<void> {
  for (;;) {
    const state = await readBrokerState(url, [], QUEUES.brokerCheck, 1000);
    if (state.blocked !== undefined) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Resolves once the TIS queue on this vhost has nothing ready (twice in a row, a second apart). */
async function untilDrained(url: string): Promise<void> {
  let empty = 0;
  while (empty < 2) {
    const state = await readBrokerState(url, [QUEUES.cojSigned], QUEUES.brokerCheck);
    empty = state.reachable && (state.queues[0]?.ready ?? 1) === 0 ? empty + 1 : 0;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** A side's figures, from its TIS store and its queue. */
async function sideFromStores(tis: TisStore, url: string, signatures: CojSignature[], alerts: DrillAlert[], alarmAt: number): Promise<Omit<CojDrillSide, 'how'>> {
  const held = await tis.findCojs(signatures.map((s) => s.programmeMembershipTisId));
  const reached = signatures.filter((s) => held.some((h) => h.programmeMembershipTisId === s.programmeMembershipTisId && h.signedAt.getTime() === Date.parse(s.signedAt)));
  const lastReceived = Math.max(...held.map((h) => h.receivedAt.getTime()));
  const state = await readBrokerState(url, [QUEUES.cojSigned], QUEUES.brokerCheck);
  const raised = alerts.filter((a) => !a.resolved).sort((a, b) => a.atMs - b.atMs);
  return {
    signed: signatures.length,
    reachedTis: reached.length,
    lost: signatures.filter((s) => !reached.includes(s)).map((s) => ({ programmeMembershipTisId: s.programmeMembershipTisId, signedAt: s.signedAt })),
    stillQueued: state.queues[0]?.ready ?? 0,
    firstAlert: raised[0] ?? null,
    alerts,
    lastReachedTisAtMs: held.length > 0 ? lastReceived - alarmAt : null,
  };
}

interface InboxAlert {
  kind: string;
  summary: string;
  resolved: boolean;
  receivedAt: number;
}

/** The drill's stand-in for the operators' Slack: every alert the workers POST, and when it came. */
async function startAlertInbox(): Promise<{ url: string; alerts: InboxAlert[]; close(): Promise<void> }> {
  const alerts: InboxAlert[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      try {
        const { tisw } = JSON.parse(body) as { tisw?: { kind?: string; summary?: string; resolved?: boolean } };
        if (tisw?.kind) alerts.push({ kind: tisw.kind, summary: tisw.summary ?? '', resolved: tisw.resolved === true, receivedAt: Date.now() });
      } catch {
        // not an alert of ours
      }
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`,
    alerts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
