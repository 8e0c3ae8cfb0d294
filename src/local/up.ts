/**
 * `tisw up`: the whole local system in the foreground. Builds the pinned servers if missing, starts the
 * Temporal dev server (state kept under the data directory) and FerretDB, makes sure RabbitMQ runs,
 * registers the search attributes, starts a worker, and prints where everything is. Ctrl-C stops all it
 * started. A second `tisw up` while one runs is refused, and so is any port already taken: it never
 * fights another process over a port.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/config';
import { connectClient, ensureSearchAttributes, pollerIdentities } from '../adapters/temporal';
import { startConfiguredCodecServer } from '../adapters/codec-server';
import { ensureSchedules } from '../client/schedules';
import { seedDemo } from './demo';
import { isAlive, spawnTisw, type Child } from './child';
import { isListening, LOCAL_HOSTS, splitHostPort } from './ports';
import { waitFor } from '../shared/poll';
import { parseWorkerIdentity, type WorkerIdentity } from '../shared/temporal';
import { amqpProblem, deadLetterTcsRejections, LOCAL_TIS_QUEUES, startLocalRabbitMq, vhostOf } from './rabbitmq';
import { startLocalStack, type LocalStack } from './stack';
import { writeUpSettings } from './up-settings';


export interface UpOptions {
  say: (line: string) => void;
  /** Seed and start the demo on an empty data directory (src/local/demo.ts). @default true */
  demo?: boolean;
  /** Worker processes to start (a local cluster); each takes the first free metrics port from TISW_METRICS_PORT up. @default 1 */
  workers?: number;
}

export async function up(config: Config, { say, demo = true, workers: workerCount = 1 }: UpOptions): Promise<void> {
  const { dataDir } = config.local;
  fs.mkdirSync(dataDir, { recursive: true });
  const lock = acquireLock(path.join(dataDir, 'up.pid'));
  const stopping: Array<() => Promise<void>> = [async () => lock.release()];
  const stopAll = async (): Promise<void> => {
    for (const stop of stopping.reverse()) await stop().catch(() => undefined);
  };
  try {
    const temporal = localAddress('TEMPORAL_ADDRESS', config.temporal.address);
    const mongo = localAddress('MONGODB_URI', /^mongodb:\/\/(?:[^@/]*@)?([^/,?]+)/.exec(config.mongo.tss.uri)?.[1] ?? '');
    const { payloadKey } = config.temporal;
    const ports = [['Temporal', temporal.port], ['the Temporal UI', config.local.temporalUiPort], ['FerretDB', mongo.port], ...(payloadKey ? [['the codec server', config.codecServer.port] as const] : [])] as const;
    for (const [name, port] of ports) {
      if (await isListening('127.0.0.1', port)) {
        throw new Error(`port ${port} (for ${name}) is already in use on 127.0.0.1: stop what listens there, or choose other ports (TEMPORAL_ADDRESS, TISW_TEMPORAL_UI_PORT, MONGODB_URI, TISW_CODEC_PORT)`);
      }
    }

    say(`data directory: ${dataDir}`);
    // With payloads encrypted, the UI would show only opaque blobs: it decodes them through our codec server.
    const codec = await startConfiguredCodecServer(config);
    if (codec) stopping.push(() => codec.close());
    const stack: LocalStack = await startLocalStack({
      temporalPort: temporal.port,
      temporalUiPort: config.local.temporalUiPort,
      temporalDbFile: path.join(dataDir, 'temporal', 'temporal.db'),
      ...(codec && { temporalUiCodecEndpoint: codec.url }),
      ferretdbListen: `127.0.0.1:${mongo.port}`,
      postgresUrl: config.local.postgresUrl,
      sqliteDir: path.join(dataDir, 'ferretdb'),
      echo: true,
      warn: (m) => say(`warning: ${m}`),
    });
    stopping.push(() => stack.stop());

    if (await amqpProblem(config.amqp.url)) {
      if (!LOCAL_HOSTS.has(new URL(config.amqp.url).hostname)) {
        throw new Error(`RabbitMQ at ${new URL(config.amqp.url).host} does not answer: ${await amqpProblem(config.amqp.url)}`);
      }
      say(await startLocalRabbitMq());
      await waitFor('RabbitMQ', async () => (await amqpProblem(config.amqp.url)) === undefined, 60_000);
    }
    // Where the broker is ours to configure, it dead-letters TCS's rejections as TIS would be asked to.
    const local = localTisEnv(config);
    if (LOCAL_HOSTS.has(new URL(config.amqp.url).hostname)) await deadLetterTcsRejections(vhostOf(config.amqp.url));
    // For commands in other terminals (`tisw health`): they see the settings its processes run with.
    const settings = writeUpSettings(dataDir, local);
    stopping.push(async () => settings.remove());

    const client = await connectClient(config.temporal);
    try {
      const added = await ensureSearchAttributes(client, config.temporal.namespace);
      if (added.length > 0) say(`registered search attributes: ${added.join(', ')}`);
      for (const { scheduleId, outcome } of await ensureSchedules(client, config)) say(`schedule ${scheduleId}: ${outcome}`);
    } finally {
      await client.connection.close();
    }

    const receivers = startTisw('receivers', 'receivers', local);
    stopping.push(() => receivers.stop(15_000));
    // Each worker takes the first free metrics port from TISW_METRICS_PORT up (metrics-server.ts) and names
    // it in its identity, so the ports said below are those taken, whatever else holds ports here.
    const workers = Array.from({ length: workerCount }, (_, i) => startTisw('worker', `worker${workerCount > 1 ? ` ${i + 1}` : ''}`, local));
    for (const worker of workers) stopping.push(() => worker.stop(15_000));
    const identities = await waitForPollers(config, workers, 120_000, () => workers.find((w) => w.exited())?.exited());

    say('');
    say('tis-workflows is up:');
    say(`  Temporal UI      ${stack.uiUrl ?? '(headless)'}${codec ? ` (payloads decoded through the codec server ${codec.url})` : ''}`);
    say(`  Temporal         ${stack.temporalAddress} (namespace ${config.temporal.namespace}, task queue ${config.temporal.taskQueue})`);
    say(`  MongoDB (wire)   ${stack.mongoUri} (FerretDB on ${stack.backend}; stores ${[config.mongo.tss, config.mongo.tis, config.mongo.esr].map((t) => t.database).filter((d, i, a) => a.indexOf(d) === i).join(', ')})`);
    say(`  RabbitMQ         ${new URL(config.amqp.url).host}`);
    say(`  receivers        pid ${receivers.pid} (the reference TIS CoJ receiver, TIS sync and ESR data exporter)`);
    say(`  acknowledgement  CoJ ${config.coj.acknowledgement}, ESR ${config.esr.acknowledgement}; TCS's rejections dead-lettered to ${local.COJ_REJECTIONS_QUEUE}, COJ_RECEIVED on ${local.COJ_RECEIVED_QUEUE}`);
    for (const worker of workers) {
      const metricsPort = identities.find((identity) => identity.pid === worker.pid)?.metricsPort;
      say(`  ${worker.name.padEnd(16)} pid ${worker.pid}${metricsPort !== undefined ? `, metrics on http://127.0.0.1:${metricsPort}/metrics` : ''}`);
    }
    say('Check it with `npx tisw health` in another terminal. Ctrl-C stops everything started here.');
    if (demo) await startDemo(config, stack.uiUrl, say);

    await untilStopped([...stack.children, receivers, ...workers]);
    say('stopping...');
  } finally {
    await stopAll();
  }
  say('stopped.');
}

/** The demo never stops `tisw up`: a refusal or a failure is said, and the system stays up. */
async function startDemo(config: Config, uiUrl: string | undefined, say: (line: string) => void): Promise<void> {
  say('');
  const client = await connectClient(config.temporal);
  try {
    const result = await seedDemo(config, client, { say, ...(uiUrl !== undefined && { uiUrl }) });
    if (result.outcome === 'already-seeded') say(`demo: not seeded, this data directory already has it (${result.markerFile}); --no-demo skips this check`);
    if (result.outcome === 'refused') say(`demo: refused: ${result.reason}`);
  } catch (err) {
    say(`demo: could not be seeded or started: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await client.connection.close();
  }
}

function localAddress(variable: string, address: string): { port: number } {
  const { host, port } = splitHostPort(address);
  if (!LOCAL_HOSTS.has(host) || !Number.isInteger(port)) {
    throw new Error(`${variable} points at ${host}: \`tisw up\` runs local servers, so it must name 127.0.0.1 or localhost (unset it for the defaults)`);
  }
  return { port };
}

/** One `tisw up` per data directory: a second one is refused with the first one's pid. */
function acquireLock(file: string): { release(): void } {
  try {
    fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
  } catch {
    const pid = Number(fs.readFileSync(file, 'utf8'));
    if (pid && pid !== process.pid && isAlive(pid)) {
      throw new Error(`tisw up is already running (pid ${pid}) with data directory ${path.dirname(file)}; stop it with Ctrl-C first`);
    }
    fs.writeFileSync(file, String(process.pid)); // left by one that was killed
  }
  return { release: () => fs.rmSync(file, { force: true }) };
}

/** The local TIS's queues for synced mode's optional sources, unless the operator named others. */
function localTisEnv(config: Config): Record<string, string> {
  return {
    COJ_REJECTIONS_QUEUE: config.coj.rejectionsQueue ?? LOCAL_TIS_QUEUES.cojRejections,
    COJ_RECEIVED_QUEUE: config.coj.receivedQueue ?? LOCAL_TIS_QUEUES.cojReceived,
  };
}

function startTisw(command: string, name = command, env: NodeJS.ProcessEnv = {}): Child {
  return spawnTisw(command, { echo: true, name, env: { ...process.env, ...env } });
}

/**
 * Waits until each of these `tisw worker` processes polls the task queue (a worker's identity names its
 * pid: workerIdentity). `failed` ends the wait early, e.g. when a child has exited. Resolves with the
 * identities seen, which name each worker's metrics port.
 */
export async function waitForPollers(config: Config, workers: Child[], timeoutMs: number, failed?: () => Error | undefined): Promise<WorkerIdentity[]> {
  const client = await connectClient(config.temporal);
  let seen: WorkerIdentity[] = [];
  try {
    await waitFor(
      `${workers.length} worker(s) to poll the task queue`,
      async () => {
        seen = (await pollerIdentities(client, config.temporal.namespace, config.temporal.taskQueue)).map(parseWorkerIdentity).filter((w) => w !== undefined);
        return workers.every((w) => seen.some((identity) => identity.pid === w.pid));
      },
      timeoutMs,
      failed,
    );
    return seen;
  } finally {
    await client.connection.close();
  }
}

/** Resolves on Ctrl-C / SIGTERM; rejects when one of the children dies on its own. */
function untilStopped(children: Child[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const dead = children.find((c) => c.exited());
      if (dead) {
        clearInterval(timer);
        reject(dead.exited() as Error);
      }
    }, 500);
    const stop = (): void => {
      clearInterval(timer);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
