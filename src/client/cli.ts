/**
 * `tisw`, the operator's command line. Every command has --help; data-printing commands take --json;
 * exit codes: 0 success, 1 failure, 2 usage error (see output.ts). commander parses the arguments: it
 * gives help texts, subcommands and option errors that read the same everywhere, for less code than ours.
 */
import { randomUUID } from 'node:crypto';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { configHelp } from '../config/config';
import { createLogger } from '../config/logger';
import { connectClient, ensureSearchAttributes } from '../adapters/temporal';
import { probeWorkflowId } from '../shared/contract';
import { up } from '../local/up';
import { startConfiguredCodecServer } from '../adapters/codec-server';
import { createWorker, installRuntime, quietRuntime } from '../worker/worker';
import { startMetricsServer } from '../worker/metrics-server';
import { freePort } from '../local/ports';
import { checkHealth } from './health';
import { findStuck, type StuckReport } from './stuck';
import { registerCojCommands } from './coj-commands';
import { ensureSchedules } from './schedules';
import { ensureMonitor } from './monitor';
import { runReceivers } from '../receivers/run';
import { registerEsrCommands } from './esr';
import { CommandFailed, EXIT, exitCodeFor, print, printJson, reportError, config } from './output';
import { runFloorBench, printFloor } from '../../bench/floor';
import { printCoj, runCojBench } from '../../bench/coj';

export function buildProgram(): Command {
  const program = new Command('tisw')
    .description('Operate tis-workflows: durable CoJ submission and daily ESR app files on Temporal')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', configHelp())
    .exitOverride();

  program
    .command('up')
    .description('run the whole local system in the foreground (Temporal with its UI, FerretDB, a worker); Ctrl-C stops it')
    .option('--no-demo', 'do not seed and start the demo (signed CoJs, ESR records, today\'s run) on an empty data directory')
    .option('--workers <n>', 'worker processes to start, a local cluster (metrics on TISW_METRICS_PORT, +1, +2 ...)', positiveInt, 1)
    .action(async (opts: { demo: boolean; workers: number }) => {
      await up(config(), { say: (line) => print(line), demo: opts.demo, workers: opts.workers });
    });

  program
    .command('worker')
    .description('run one worker process (run several for a cluster); stops gracefully on SIGINT/SIGTERM')
    .action(async () => {
      const cfg = config();
      const log = createLogger(cfg, 'tisw-worker');
      const sdkMetricsPort = cfg.metricsPort > 0 ? await freePort() : undefined;
      installRuntime(cfg, log, sdkMetricsPort);
      const metrics = cfg.metricsPort > 0 ? await startMetricsServer(cfg.metricsPort, `http://127.0.0.1:${sdkMetricsPort}/metrics`) : undefined;
      const client = await connectClient(cfg.temporal);
      try {
        await ensureSearchAttributes(client, cfg.temporal.namespace);
        await ensureSchedules(client, cfg);
        await ensureMonitor(client, cfg);
      } finally {
        await client.connection.close();
      }
      const worker = await createWorker(cfg, log);
      log.info({ taskQueue: cfg.temporal.taskQueue, namespace: cfg.temporal.namespace, address: cfg.temporal.address }, 'worker polling');
      await worker.run();
      await metrics?.close();
      log.info('worker stopped');
    });

  program
    .command('codec-server')
    .description('serve the payload codec to the Temporal UI, so it shows payloads encrypted with TISW_PAYLOAD_KEY; until SIGINT/SIGTERM')
    .option('--port <n>', 'port to listen on (default TISW_CODEC_PORT)', (v) => portNumber(v))
    .option('--host <ip>', 'address to listen on; it serves decrypted trainee data, so keep it on loopback or behind your authentication', '127.0.0.1')
    .action(async (opts: { port?: number; host: string }) => {
      const cfg = config();
      const server = await startConfiguredCodecServer(cfg, { host: opts.host, port: opts.port });
      if (!server) throw new CommandFailed('TISW_PAYLOAD_KEY is not set: payloads are not encrypted, so the UI needs no codec server');
      print(`codec server on ${server.url} for ${cfg.codecServer.allowedOrigins.join(', ')}; point the UI at it (TEMPORAL_CODEC_ENDPOINT, or the UI's "Codec Server" setting)`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await server.close();
    });

  program
    .command('receivers')
    .description('run the reference receivers (the TIS CoJ receiver) until SIGINT/SIGTERM')
    .action(async () => {
      const cfg = config();
      await runReceivers(cfg, createLogger(cfg, 'tisw-receivers'));
    });

  registerCojCommands(program, config);

  program
    .command('health')
    .description('check that every dependency is reachable (Temporal, its workers, RabbitMQ, MongoDB); exit 1 if not')
    .option('--json', 'print a JSON object { ok, checks: [{ name, ok, detail }] }')
    .action(async (opts: { json?: boolean }) => {
      const report = await checkHealth(config());
      if (opts.json) printJson(report);
      else for (const c of report.checks) print(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(28)} ${c.detail}`);
      if (!report.ok) throw new CommandFailed('some checks failed');
    });

  program
    .command('stuck')
    .description('every run that is late, with why: stage, attempts, last failure, the queue it waits on; exit 1 if any')
    .option('--older-than <minutes>', 'running longer than this counts as late (default: the CoJ SLA)', positiveInt)
    .option('--limit <n>', 'show at most this many runs', positiveInt, 100)
    .option('--json', 'print { late: [...], more, broker: { queues, blocked }, verdicts }')
    .action(async (opts: { olderThan?: number; limit: number; json?: boolean }) => {
      const cfg = config();
      const client = await connectClient(cfg.temporal);
      try {
        const report = await findStuck(client, cfg, { olderThanMs: opts.olderThan !== undefined ? opts.olderThan * 60_000 : cfg.coj.slaMs, limit: opts.limit });
        if (opts.json) printJson(report);
        else printStuck(report);
        if (report.late.length > 0 || report.verdicts.length > 0) throw new CommandFailed(`${report.late.length + report.more} late run(s)`);
      } finally {
        await client.connection.close();
      }
    });

  program
    .command('probe')
    .description('run one probe workflow end to end: a confirmed publish to RabbitMQ and a MongoDB write')
    .option('--json', 'print the probe result as JSON')
    .action(async (opts: { json?: boolean }) => {
      const cfg = config();
      const client = await connectClient(cfg.temporal);
      try {
        const probeId = randomUUID();
        const result = await client.workflow.execute('probeWorkflow', {
          taskQueue: cfg.temporal.taskQueue,
          workflowId: probeWorkflowId(probeId),
          args: [{ probeId }],
          workflowExecutionTimeout: '2 minutes',
        });
        if (opts.json) printJson(result);
        else print(`probe ${probeId}: published to ${(result as { queue: string }).queue} and recorded`);
      } finally {
        await client.connection.close();
      }
    });

  const bench = program.command('bench').description('benchmarks; each prints its figures beside the floor measured in the same run');
  bench
    .command('floor')
    .description('the floor: a one-activity workflow (one at a time, and a burst), a workflow with no activity, the bare AMQP round trip')
    .option('--burst <n>', 'workflows in the burst', positiveInt, 1000)
    .option('--in-flight <n>', 'workflows in flight during the burst', positiveInt, 50)
    .option('--sequential <n>', 'workflows run one at a time, for latency', positiveInt, 200)
    .option('--amqp <n>', 'AMQP round trips, for each of one at a time and 100 in flight', positiveInt, 2000)
    .option('--in-memory', 'Temporal keeps its state in memory instead of a SQLite file')
    .option('--json', 'print the figures as JSON')
    .action(async (opts: { burst: number; inFlight: number; sequential: number; amqp: number; inMemory?: boolean; json?: boolean }) => {
      const cfg = config();
      quietRuntime(cfg);
      const figures = await runFloorBench(cfg, {
        burst: opts.burst,
        inFlight: opts.inFlight,
        sequential: opts.sequential,
        amqpRoundTrips: opts.amqp,
        persist: !opts.inMemory,
        progress: !opts.json && process.stderr.isTTY,
      });
      if (opts.json) printJson(figures);
      else printFloor(figures, print);
    });

  bench
    .command('coj')
    .description('N CoJs as a burst through a throwaway copy of the system: rate, latency to syncedAt, worker memory, beside the floor')
    .option('--count <n>', 'CoJs in the burst', positiveInt, 2000)
    .option('--in-flight <n>', 'concurrent submit calls', positiveInt, 50)
    .option('--floor-burst <n>', 'workflows in the floor burst measured in the same run', positiveInt, 1000)
    .option('--bursts <n>', 'bursts of --count one after another, each between two floor bursts (the ratios are the medians; the worker\'s memory is read after each)', positiveInt, 3)
    .option('--workers <n>', 'tisw worker processes, a cluster (the floor keeps one worker)', positiveInt, 1)
    .option('--json', 'print the figures as JSON')
    .action(async (opts: { count: number; inFlight: number; floorBurst: number; bursts: number; workers: number; json?: boolean }) => {
      const cfg = config();
      quietRuntime(cfg);
      const figures = await runCojBench(cfg, { count: opts.count, inFlight: opts.inFlight, floorBurst: opts.floorBurst, bursts: opts.bursts, workers: opts.workers, progress: !opts.json && process.stderr.isTTY });
      if (opts.json) printJson(figures);
      else printCoj(figures, print);
    });

  registerEsrCommands(program);
  return program;
}


function printStuck(report: StuckReport): void {
  if (report.late.length === 0) print('no late runs');
  for (const r of report.late) {
    const queue = r.waitsOn ? `; ${r.waitsOn.queue}: ${r.waitsOn.ready} ready, ${r.waitsOn.consumers} consumer(s)` : '';
    print(`${r.workflowId}  ${r.stage}  ${r.lateByMinutes} min  attempts ${r.attempts ?? '?'}  last failure: ${r.lastFailure ?? 'none'}${queue}`);
    print(`    ${r.subject}`);
  }
  if (report.more > 0) print(`... and ${report.more} more (--limit)`);
  if (report.broker.reachable) {
    for (const q of report.broker.queues) print(`queue ${q.queue}: ${q.missing ? 'missing' : `${q.ready} ready, ${q.consumers} consumer(s)`}`);
    print(`broker: ${report.broker.blocked ? `blocking publishers (${report.broker.blocked})` : 'accepting publishes'}`);
  }
  for (const v of report.verdicts) print(`=> ${v}`);
}

function portNumber(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError(`expected a port number from 0 to 65535, got "${value}"`);
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError(`expected a whole number of at least 1, got "${value}"`);
  return n;
}

export function main(argv: string[]): void {
  buildProgram()
    .parseAsync(argv)
    .then(() => process.exit(EXIT.ok))
    .catch((err: unknown) => {
      if (err instanceof CommanderError) {
        // --help and --version end here too, with exit code 0; parse errors were printed by commander.
        process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
      }
      reportError(err);
      process.exit(exitCodeFor(err));
    });
}
