/** `tisw conformance coj`: a live receiver tested against the reply contract (src/client/conformance.ts). */
import type { Command } from 'commander';
import { CONFIG_TABLE, ConfigError, type MongoTarget } from '../config/config';
import { runCojConformance, type ConformanceReport } from '../client/conformance';
import { programmeMembershipTisId } from '../shared/messages';
import { CommandFailed, config, printJson, printTable, UsageError } from './output';
import { positiveSeconds } from './parse';

export function registerConformanceCommands(program: Command): void {
  const conformance = program.command('conformance').description('test a receiver that adopts the reply contract, before it carries real messages');

  conformance
    .command('coj')
    .description("drive a live CoJ receiver through its queue with marked test CoJs (header x-tisw-conformance) and check each case of the reply contract; exit 1 on any failure")
    .requiredOption('--queue <queue>', "the receiver's queue, e.g. trainee.queue.coj.signed.tcs (on AMQP_URL's broker and vhost)")
    .option('--reply-to-timeout <seconds>', 'how long each request waits for its reply', positiveSeconds, 5)
    .option('--store-uri <uri>', "the receiver's MongoDB store (the reference receiver's layout): fresh test programme memberships are added there, read back after each delivery, and removed after")
    .option('--programme-membership <id>', 'without --store-uri: a programme membership the receiver knows, set aside for conformance tests')
    .option('--yes', 'run even though AMQP_URL names a broker that is not on this machine')
    .option('--json', 'print { job, queue, runId, readBack, pass, cases: [{ case, expected, seen, pass }] }')
    .action(async (opts: { queue: string; replyToTimeout: number; storeUri?: string; programmeMembership?: string; yes?: boolean; json?: boolean }) => {
      if (opts.programmeMembership !== undefined && !programmeMembershipTisId.safeParse(opts.programmeMembership).success) {
        throw new UsageError(`--programme-membership must be a UUID or a comma-joined list of numeric ids; got "${opts.programmeMembership}"`);
      }
      const store = opts.storeUri === undefined ? undefined : storeTarget(opts.storeUri);
      const report = await runCojConformance({
        amqpUrl: config().amqp.url,
        queue: opts.queue,
        replyTimeoutMs: opts.replyToTimeout * 1000,
        ...(store && { store }),
        ...(opts.programmeMembership && { programmeMembershipTisId: opts.programmeMembership }),
        remoteBrokerConfirmed: opts.yes === true,
      });
      if (opts.json) printJson(report);
      else printReport(report);
      if (!report.pass) throw new CommandFailed(`${report.cases.filter((c) => !c.pass).length} of ${report.cases.length} conformance case(s) failed`);
    });
}

/** --store-uri, checked as TIS_MONGODB_URI is (a mongodb URI naming its database), and said as a flag's mistake. */
function storeTarget(uri: string): MongoTarget {
  try {
    return CONFIG_TABLE.TIS_MONGODB_URI.type.parse(uri, '--store-uri', new Set());
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
}

function printReport(report: ConformanceReport): void {
  printTable(
    ['case', 'expected', 'seen', 'pass'],
    report.cases.map((c) => [c.case, c.expected, c.seen, c.pass ? 'pass' : 'FAIL']),
  );
}
