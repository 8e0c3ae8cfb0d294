/**
 * A private, throwaway RabbitMQ node, for what must never stop or alarm the machine's broker: the fault
 * tests, and `tisw drill coj-2023` (which raises a memory alarm). Nothing that serves TIS starts one.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { isAlive } from './child';
import { rabbitmqctl } from './rabbitmq';
import { freePort } from './ports';
import { waitFor } from '../shared/poll';

const run = promisify(execFile);

/** Where private nodes keep their files: one directory per node, named after it. */
const PRIVATE_NODES_DIR = path.join(os.tmpdir(), 'tisw-rabbitmq-nodes');
const PRIVATE_NODE_PREFIX = 'tisw-private-';

export interface PrivateRabbitMq {
  /** e.g. tisw-private-1234-5672@localhost */
  node: string;
  /** amqp://guest:guest@127.0.0.1:<port> (vhost "/"). */
  url: string;
  /** rabbitmqctl against this node only: stop_app, start_app ... */
  ctl(...args: string[]): Promise<string>;
  /** A memory alarm (the 2023 incident): the watermark set so low that the broker blocks every publisher. */
  raiseMemoryAlarm(): Promise<void>;
  /** The watermark the node had before the alarm, back. */
  clearMemoryAlarm(): Promise<void>;
  /** Stops the node and removes its files; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * A RabbitMQ node of our own on free ports, for tests that stop the broker or raise its memory alarm:
 * those would disturb every other user of the machine's broker (other test runs, other engineers).
 * It runs as the rabbitmq user (rabbitmq-server switches to it), so its directory is given to that user;
 * starting it takes about 6 s. The node's name carries our pid, so that sweepPrivateRabbitMqs() can stop
 * the nodes of runs that died before stopping theirs.
 */
export async function startPrivateRabbitMq(): Promise<PrivateRabbitMq> {
  await sweepPrivateRabbitMqs();
  const [port, distPort] = [await freePort(), await freePort()];
  const name = `${PRIVATE_NODE_PREFIX}${process.pid}-${port}`;
  const node = `${name}@localhost`;
  const dir = path.join(PRIVATE_NODES_DIR, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'rabbitmq.conf'), `listeners.tcp.local = 127.0.0.1:${port}\n`);
  fs.writeFileSync(path.join(dir, 'enabled_plugins'), '[].\n');
  await run('chown', ['-R', 'rabbitmq:rabbitmq', PRIVATE_NODES_DIR]);
  const env = {
    ...process.env,
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_PID_FILE: path.join(dir, 'pid'),
  };
  const ctl = (...args: string[]): Promise<string> => rabbitmqctl('-n', node, ...args);
  const stop = async (): Promise<void> => {
    await stopPrivateNode(node, dir);
  };
  try {
    await run('rabbitmq-server', ['-detached'], { env, timeout: 30_000 });
    // -detached returns before the node has registered with epmd; until then await_startup fails at once.
    await waitFor(`the private RabbitMQ node ${node}`, () => ctl('await_startup').then(() => true, () => false), 60_000);
  } catch (err) {
    await stop();
    throw new Error(`could not start a private RabbitMQ node ${node} (needs root and rabbitmq-server): ${(err as Error).message.split('\n')[0]}`);
  }
  let watermark: string | undefined;
  return {
    node,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    ctl,
    async raiseMemoryAlarm() {
      watermark ??= /\{vm_memory_high_watermark,([0-9.]+)\}/.exec(await ctl('environment'))?.[1] ?? '0.4';
      await ctl('set_vm_memory_high_watermark', '0.0001');
    },
    async clearMemoryAlarm() {
      await ctl('set_vm_memory_high_watermark', watermark ?? '0.4');
    },
    stop,
  };
}

/** Stops the private nodes whose owning process is gone (a run killed before its teardown). */
export async function sweepPrivateRabbitMqs(): Promise<void> {
  if (!fs.existsSync(PRIVATE_NODES_DIR)) return;
  for (const name of fs.readdirSync(PRIVATE_NODES_DIR)) {
    const owner = Number(new RegExp(`^${PRIVATE_NODE_PREFIX}(\\d+)-`).exec(name)?.[1]);
    if (!owner || isAlive(owner)) continue;
    await stopPrivateNode(`${name}@localhost`, path.join(PRIVATE_NODES_DIR, name));
  }
}

async function stopPrivateNode(node: string, dir: string): Promise<void> {
  await rabbitmqctl('-n', node, 'stop').catch(() => undefined);
  // A node that does not answer rabbitmqctl (half started, or hung) is ended by its pid.
  const pid = Number(fs.existsSync(path.join(dir, 'pid')) ? fs.readFileSync(path.join(dir, 'pid'), 'utf8').trim() : NaN);
  if (pid > 0 && isAlive(pid)) process.kill(pid, 'SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
}
