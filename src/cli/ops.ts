/**
 * `tisw worker`, `tisw receivers`, `tisw codec-server`, `tisw health`, `tisw stuck`, `tisw probe`: running
 * and watching the system.
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { createLogger } from '../config/logger';
import { startConfiguredCodecServer } from '../adapters/codec-server';
import { startWorker } from '../worker/worker';
import { startReceivers } from '../receivers/run';
import { startConfiguredTisSync } from '../receivers/tis-sync';
import { checkHealth } from '../client/health';
import { findStuck, type StuckReport } from '../client/stuck';
import { probeWorkflowId } from '../shared/probe';
import { probeWorkflow } from '../workflows/probe.workflow';
import { CommandFailed, config, print, printJson, untilStopped, withClient } from './output';
import { portNumber, positiveInt } from './parse';

export function registerOpsCommands(program: Command): void {
  program
    .command('worker')
    .description('run one worker process (run several for a cluster); stops gracefully on SIGINT/SIGTERM')
    .action(async () => {
      const cfg = config();
      const worker = await startWorker(cfg, createLogger(cfg, 'tisw-worker'));
      await worker.run();
    });

  program
    .command('receivers')
    .description('run the reference receivers, playing TIS as it runs (the TIS CoJ receiver, the ESR data exporter and, in synced mode, the TIS sync) until SIGINT/SIGTERM')
    .option('--no-tis-sync', 'without the reference TIS sync (run it on its own with `tisw tis-sync`)')
    .action(async (opts: { tisSync: boolean }) => {
      const cfg = config();
      const log = createLogger(cfg, 'tisw-receivers');
      const receivers = await startReceivers(cfg, log, opts.tisSync ? {} : { tisSync: false });
      await receivers.ready;
      log.info('reference receivers running');
      await untilStopped();
      await receivers.stop();
      log.info('reference receivers stopped');
    });

  program
    .command('tis-sync')
    .description("run the reference TIS sync alone (TIS copying each CoJ that TCS stored back onto TSS's profile, as its change data capture and tis-trainee-sync do) until SIGINT/SIGTERM")
    .action(async () => {
      const cfg = config();
      const log = createLogger(cfg, 'tisw-tis-sync');
      const sync = await startConfiguredTisSync(cfg, log);
      await sync.ready;
      log.info('reference TIS sync running');
      await untilStopped();
      await sync.stop();
      log.info('reference TIS sync stopped');
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
      await untilStopped();
      await server.close();
    });

  program
    .command('health')
    .description('check that every dependency is reachable (Temporal, its workers, RabbitMQ, MongoDB); exit 1 if not')
    .option('--json', 'print a JSON object { ok, checks: [{ name, ok, warning?, detail }] }')
    .action(async (opts: { json?: boolean }) => {
      const report = await checkHealth(config());
      if (opts.json) printJson(report);
      else for (const c of report.checks) print(`${!c.ok ? 'FAIL' : c.warning ? 'warn' : 'ok  '}  ${c.name.padEnd(28)} ${c.detail}`);
      if (!report.ok) throw new CommandFailed('some checks failed');
    });

  program
    .command('stuck')
    .description('every run that is late, with why: stage, attempts, last failure, the queue it waits on; exit 1 if any')
    .option('--older-than <minutes>', 'running longer than this counts as late (default: the CoJ SLA)', positiveInt)
    .option('--limit <n>', 'show at most this many runs', positiveInt, 100)
    .option('--json', 'print { late: [...], more, broker: { queues, blocked }, verdicts }')
    .action(async (opts: { olderThan?: number; limit: number; json?: boolean }) => {
      await withClient(async (client, cfg) => {
        const report = await findStuck(client, cfg, { olderThanMs: opts.olderThan !== undefined ? opts.olderThan * 60_000 : cfg.coj.slaMs, limit: opts.limit });
        if (opts.json) printJson(report);
        else printStuck(report);
        if (report.late.length > 0 || report.verdicts.length > 0) throw new CommandFailed(`${report.late.length + report.more} late run(s)`);
      });
    });

  program
    .command('probe')
    .description('run one probe workflow end to end: a confirmed publish to RabbitMQ and a MongoDB write')
    .option('--json', 'print the probe result as JSON')
    .action(async (opts: { json?: boolean }) => {
      await withClient(async (client, cfg) => {
        const probeId = randomUUID();
        const result = await client.workflow.execute(probeWorkflow, {
          taskQueue: cfg.temporal.taskQueue,
          workflowId: probeWorkflowId(probeId),
          args: [{ probeId }],
          workflowExecutionTimeout: '2 minutes',
        });
        if (opts.json) printJson(result);
        else print(`probe ${probeId}: published to ${result.queue} and recorded`);
      });
    });
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
