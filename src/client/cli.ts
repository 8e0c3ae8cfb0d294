/**
 * `tisw`, the operator's command line. Every command has --help; data-printing commands take --json;
 * exit codes: 0 success, 1 failure, 2 usage error (see output.ts). commander parses the arguments: it
 * gives help texts, subcommands and option errors that read the same everywhere, for less code than ours.
 */
import { randomUUID } from 'node:crypto';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { CONFIG_VARIABLES, loadConfig, type Config } from '../config/config';
import { createLogger } from '../config/logger';
import { connectClient, ensureSearchAttributes } from '../adapters/temporal';
import { probeWorkflowId, TASK_QUEUE } from '../shared/contract';
import { up } from '../local/up';
import { createWorker, installRuntime } from '../worker/worker';
import { checkHealth } from './health';
import { registerEsrCommands } from './esr';
import { CommandFailed, EXIT, exitCodeFor, print, printJson, reportError, setSecrets } from './output';
import { runFloorBench, printFloor } from '../../bench/floor';

function config(): Config {
  const loaded = loadConfig();
  setSecrets(loaded.secrets);
  return loaded;
}

export function buildProgram(): Command {
  const program = new Command('tisw')
    .description('Operate tis-workflows: durable CoJ submission and daily ESR app files on Temporal')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', `\nConfiguration comes from the environment:\n${CONFIG_VARIABLES.map(([n, m]) => `  ${n}\n      ${m}`).join('\n')}`)
    .exitOverride();

  program
    .command('up')
    .description('run the whole local system in the foreground (Temporal with its UI, FerretDB, a worker); Ctrl-C stops it')
    .action(async () => {
      await up(config(), { say: (line) => print(line) });
    });

  program
    .command('worker')
    .description('run one worker process (run several for a cluster); stops gracefully on SIGINT/SIGTERM')
    .action(async () => {
      const cfg = config();
      const log = createLogger(cfg, 'tisw-worker');
      installRuntime(cfg, log);
      const client = await connectClient(cfg.temporal);
      try {
        await ensureSearchAttributes(client, cfg.temporal.namespace);
      } finally {
        await client.connection.close();
      }
      const worker = await createWorker(cfg, log);
      log.info({ taskQueue: TASK_QUEUE, namespace: cfg.temporal.namespace, address: cfg.temporal.address }, 'worker polling');
      await worker.run();
      log.info('worker stopped');
    });

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
    .command('probe')
    .description('run one probe workflow end to end: a confirmed publish to RabbitMQ and a MongoDB write')
    .option('--json', 'print the probe result as JSON')
    .action(async (opts: { json?: boolean }) => {
      const cfg = config();
      const client = await connectClient(cfg.temporal);
      try {
        const probeId = randomUUID();
        const result = await client.workflow.execute('probeWorkflow', {
          taskQueue: TASK_QUEUE,
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
      // The SDK's own INFO lines would drown the figures.
      installRuntime({ ...cfg, logLevel: 'warn', metricsPort: 0 }, createLogger({ ...cfg, logLevel: 'warn' }, 'tisw-bench'));
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

  registerEsrCommands(program);
  return program;
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
