/** `tisw coj …`: submit a CoJ, show where one is, make sure a window of signed CoJs is delivered. */
import type { Command } from 'commander';
import { openMongo } from '../adapters/mongo';
import { TssStore } from '../adapters/tss-store';
import { cojSettings, cojStatus, ensureSubmitted, submitCoj, validateSignature } from '../client/coj';
import { programmeMembershipTisId } from '../shared/messages';
import { COJ_VERSIONS } from '../shared/coj';
import { print, printJson, UsageError, withClient } from './output';
import { instant } from './parse';
import { progress } from './progress';

export function registerCojCommands(program: Command): void {
  const coj = program.command('coj').description('CoJ submissions: TSS -> TIS, acknowledged');

  coj
    .command('submit')
    .description('start (or find) the submission of one signed CoJ; the same signature twice is one workflow')
    .requiredOption('--programme-membership <id>', 'programme membership TIS id (UUID, or comma-joined numeric ids)')
    .requiredOption('--trainee <id>', 'trainee TIS id')
    .requiredOption('--signed-at <iso>', 'when it was signed, ISO-8601 with a zone, e.g. 2026-11-22T09:30:00Z')
    .requiredOption('--version <version>', COJ_VERSIONS.join(', '))
    .option('--json', 'print { workflowId, outcome }')
    .action(async (opts: { programmeMembership: string; trainee: string; signedAt: string; version: string; json?: boolean }) => {
      // Checked before any connection is opened: a wrong signature is said as such even with Temporal down.
      const signature = validateSignature({ programmeMembershipTisId: opts.programmeMembership, traineeTisId: opts.trainee, signedAt: opts.signedAt, version: opts.version });
      await withClient(async (client, cfg) => {
        const result = await submitCoj(client, cojSettings(cfg), signature);
        if (opts.json) printJson(result);
        else print(`${result.workflowId}: ${result.outcome.replace(/-/g, ' ')}`);
      });
    });

  coj
    .command('status')
    .description('where one CoJ is: stage, attempts, last failure, syncedAt')
    .argument('<programme-membership-id>')
    .option('--json', 'print the status object ({ stage, attempts, lastFailure, syncedAt, ... })')
    .action(async (id: string, opts: { json?: boolean }) => {
      // A malformed id is a usage error, said as such, not "no CoJ submission" after a round trip to Temporal.
      if (!programmeMembershipTisId.safeParse(id).success) throw new UsageError(`programme membership id must be a UUID or a comma-joined list of numeric ids; got "${id}"`);
      await withClient(async (client) => {
        const status = await cojStatus(client, id);
        if (opts.json) return printJson(status);
        print(`CoJ of programme membership ${status.programmeMembershipTisId} (trainee ${status.traineeTisId}), ${status.version}, signed ${status.signedAt}`);
        print(`  stage          ${status.stage}${status.rejectionReason ? `: ${status.rejectionReason}` : ''}`);
        print(`  attempts       ${status.attempts} (last published ${status.lastPublishedAt ?? 'never'})`);
        print(`  last failure   ${status.lastFailure ?? 'none'}`);
        print(`  acknowledged   ${status.acknowledgedAt ?? 'not yet'}`);
        print(`  syncedAt       ${status.syncedAt ?? 'not yet'}`);
        if (status.lateAlertRaisedAt) print(`  late alert     raised ${status.lateAlertRaisedAt}`);
        print(`  workflow       ${status.workflowId} (${status.runStatus.toLowerCase()})`);
      });
    });

  coj
    .command('resend')
    .description('make sure every CoJ signed in the window and not yet confirmed by TIS (syncedAt null) is being delivered')
    .requiredOption('--from <date>', 'start of the window (inclusive), ISO date or instant', instant)
    .requiredOption('--to <date>', 'end of the window (exclusive), ISO date or instant', instant)
    .option('--json', 'print each CoJ with what happened to it')
    .action(async (opts: { from: Date; to: Date; json?: boolean }) => {
      // A UsageError, not commander's InvalidArgumentError: thrown from an action, commander would not print that one.
      if (opts.from >= opts.to) throw new UsageError(`--from ${opts.from.toISOString()} must be before --to ${opts.to.toISOString()}`);
      await withClient(async (client, cfg) => {
        const tss = await openMongo(cfg.mongo.tss, 'tisw-cli');
        try {
          const unsynced = await new TssStore(tss.db, cfg.mongo.tssProfilesCollection).findUnsynced({ from: opts.from, before: opts.to });
          const bar = progress('CoJs', unsynced.length, !opts.json && process.stderr.isTTY);
          const results = await ensureSubmitted(client, cojSettings(cfg), unsynced, () => bar.tick());
          bar.stop();
          if (opts.json) return printJson(results.map((r) => ({ programmeMembershipTisId: r.signature.programmeMembershipTisId, signedAt: r.signature.signedAt, outcome: r.outcome, ...(r.error && { error: r.error }) })));
          const count = (o: string): number => results.filter((r) => r.outcome === o).length;
          print(`${unsynced.length} CoJ(s) signed in the window without syncedAt: ${count('started')} had no workflow (started), ${count('in-flight')} in flight, ${count('resubmitted')} resubmitted, ${count('already-submitted')} already submitted, ${count('invalid')} invalid`);
          for (const r of results.filter((x) => x.outcome === 'invalid')) print(`  invalid: ${r.signature.programmeMembershipTisId}: ${r.error ?? ''}`);
        } finally {
          await tss.close();
        }
      });
    });
}
