/**
 * The machine's RabbitMQ, as the local system and the tests use it: reachability, starting a stopped
 * local broker, and per-run virtual hosts (so that concurrent test runs never see each other's queues).
 * Uses rabbitmqctl, which needs to run as root or as the rabbitmq user. Also a private throwaway node
 * for the fault tests (startPrivateRabbitMq), which must never stop or alarm the machine's broker.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { connectAmqp } from '../adapters/amqp';
import { isAlive } from './child';
import { freePort, waitFor } from './ports';

const run = promisify(execFile);

/** Undefined when a connection to `url` opens; else why not. */
export async function amqpProblem(url: string): Promise<string | undefined> {
  try {
    const connection = await connectAmqp({ url, connectionName: 'tisw-check', connectTimeoutMs: 3000 });
    await connection.close();
    return undefined;
  } catch (err) {
    return (err as Error).message || String(err);
  }
}

export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', args, { timeout: 60_000 });
  return stdout;
}

/**
 * Starts the local broker if it is stopped: the whole node (`rabbitmq-server -detached`) or just the
 * app (`rabbitmqctl start_app`). Returns what it did, or throws saying what the operator should do.
 */
export async function startLocalRabbitMq(): Promise<string> {
  let status: 'node-down' | 'app-stopped' | 'running';
  try {
    const out = await rabbitmqctl('status');
    status = /RabbitMQ version|Runtime/.test(out) && !/rabbit app is not running|not running/i.test(out) ? 'running' : 'app-stopped';
  } catch (err) {
    const message = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'rabbitmqctl is not installed' : String((err as Error).message);
    if (/ENOENT|not installed/.test(message)) {
      throw new Error('RabbitMQ is not reachable and rabbitmqctl is not installed here: install RabbitMQ (apt-get install rabbitmq-server) or set AMQP_URL to a running broker');
    }
    status = /nodedown|unable to perform an operation on node|Error: unable to connect/i.test(message) ? 'node-down' : 'app-stopped';
  }
  try {
    if (status === 'node-down') {
      await run('rabbitmq-server', ['-detached'], { timeout: 30_000 });
      await rabbitmqctl('await_startup');
      return 'started the local RabbitMQ node (rabbitmq-server -detached)';
    }
    if (status === 'app-stopped') {
      await rabbitmqctl('start_app');
      return 'started the local RabbitMQ app (rabbitmqctl start_app)';
    }
    return 'RabbitMQ was already running';
  } catch (err) {
    throw new Error(`could not start the local RabbitMQ (${(err as Error).message.split('\n')[0]}): start it as root with 'rabbitmq-server -detached', or set AMQP_URL to a running broker`);
  }
}

export async function addVhost(vhost: string, user = 'guest'): Promise<void> {
  await rabbitmqctl('add_vhost', vhost);
  await rabbitmqctl('set_permissions', '-p', vhost, user, '.*', '.*', '.*');
}

export async function deleteVhost(vhost: string): Promise<void> {
  await rabbitmqctl('delete_vhost', vhost);
}

export async function listVhosts(): Promise<string[]> {
  const out = await rabbitmqctl('list_vhosts', '--quiet', '--no-table-headers');
  return out.split('\n').map((l) => l.trim()).filter(Boolean);
}

// -------------------------------------------------------------------------------------------------
// A private, throwaway RabbitMQ node

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
