/** `tisw conformance coj|esr`: a live receiver tested against the reply contract (src/client/conformance*.ts). */
import type { Command } from 'commander';
import { CONFIG_TABLE, ConfigError, type MongoTarget } from '../config/config';
import type { ConformanceOptions, ConformanceReport } from '../client/conformance';
import { runCojConformance } from '../client/conformance-coj';
import { CONFORMANCE_RUN_YEARS, CONFORMANCE_UNKNOWN_DEANERY, runEsrConformance } from '../client/conformance-esr';
import { programmeMembershipTisId } from '../shared/messages';
import { CommandFailed, config, print, printJson, printTable, UsageError } from './output';
import { positiveSeconds } from './parse';

interface SharedFlags {
  queue: string;
  replyToTimeout: number;
  deadLetterQueue?: string;
  yes?: boolean;
  json?: boolean;
}

export function registerConformanceCommands(program: Command): void {
  const conformance = program.command('conformance').description('test a receiver that adopts the reply contract, before it carries real messages');

  conformanceCommand(conformance, 'coj', 'trainee.queue.coj.signed.tcs')
    .description("drive a live CoJ receiver through its queue with marked test CoJs (header x-tisw-conformance) and check each case of the reply contract; exit 1 on any failure")
    .option('--store-uri <uri>', "the receiver's MongoDB store (the reference receiver's layout): fresh test programme memberships are added there, read back after each delivery, and removed after")
    .option('--programme-membership <id>', 'without --store-uri: a programme membership the receiver knows, set aside for conformance tests')
    .action(async (opts: SharedFlags & { storeUri?: string; programmeMembership?: string }) => {
      if (opts.programmeMembership !== undefined && !programmeMembershipTisId.safeParse(opts.programmeMembership).success) {
        throw new UsageError(`--programme-membership must be a UUID or a comma-joined list of numeric ids; got "${opts.programmeMembership}"`);
      }
      const store = opts.storeUri === undefined ? undefined : storeTarget(opts.storeUri, 'TIS_MONGODB_URI');
      await runAndReport(opts, (shared) =>
        runCojConformance({ ...shared, ...(store && { store }), ...(opts.programmeMembership && { programmeMembershipTisId: opts.programmeMembership }) }),
      );
    });

  conformanceCommand(conformance, 'esr', 'esr.queue.appfilegenerationcommand.create.dataexporter')
    .description('drive a live ESR data exporter through its queue with marked test app-file commands (header x-tisw-conformance) and check each case of the reply contract; exit 1 on any failure')
    .option('--store-uri <uri>', "the exporter's MongoDB store (the reference exporter's layout: appFiles keyed by commandId): each file is read back from it; nothing is written there by the run itself")
    .addHelpText(
      'after',
      `
What it writes, through the exporter: 6 app files (one per valid command; the repeat makes none), each taking a number
from its shared file-sequence counter, recorded in its store (appFiles) and written to its files directory.
They are marked as far as the contract allows: commandIds tisw-conformance-<run id>-cmd-<n>; one run date for
the run, a day in the years ${CONFORMANCE_RUN_YEARS.from} to ${CONFORMANCE_RUN_YEARS.to}, when no GeneratedAppRecord is due, so the files hold no record
and no real record is marked EXPORTED; deaneries are the real codes (an exporter takes no other), and the
unknown-deanery case sends ${CONFORMANCE_UNKNOWN_DEANERY}. The run leaves those files and their records as they are (their numbers were
taken) and says so after the table. Point it only at an exporter meant for tests: its sequence numbers and
files are real ones.`,
    )
    .action(async (opts: SharedFlags & { storeUri?: string }) => {
      const store = opts.storeUri === undefined ? undefined : storeTarget(opts.storeUri, 'ESR_MONGODB_URI');
      await runAndReport(opts, (shared) => runEsrConformance({ ...shared, ...(store && { store }) }));
    });
}

/** A job's subcommand with the flags every job takes. */
function conformanceCommand(parent: Command, job: string, exampleQueue: string): Command {
  return parent
    .command(job)
    .requiredOption('--queue <queue>', `the receiver's queue, e.g. ${exampleQueue} (on AMQP_URL's broker and vhost)`)
    .option('--reply-to-timeout <seconds>', 'how long each request waits for its reply', positiveSeconds, 5)
    .option('--dead-letter-queue <queue>', 'where the receiver dead-letters what it can never take: each malformed case then passes only once its message is there (a rejection alone is not enough); without it, a rejection or the message on <queue>.dead-letter passes')
    .option('--yes', 'run even though AMQP_URL names a broker that is not on this machine')
    .option('--json', 'print { job, queue, runId, readBack, pass, cases: [{ case, expected, seen, pass }], leftBehind? }');
}

async function runAndReport(opts: SharedFlags, run: (shared: ConformanceOptions) => Promise<ConformanceReport>): Promise<void> {
  const report = await run({
    amqpUrl: config().amqp.url,
    queue: opts.queue,
    replyTimeoutMs: opts.replyToTimeout * 1000,
    ...(opts.deadLetterQueue !== undefined && { deadLetterQueue: opts.deadLetterQueue }),
    remoteBrokerConfirmed: opts.yes === true,
  });
  if (opts.json) printJson(report);
  else printReport(report);
  if (!report.pass) throw new CommandFailed(`${report.cases.filter((c) => !c.pass).length} of ${report.cases.length} conformance case(s) failed`);
}

/** --store-uri, checked as the store's own variable is (a mongodb URI naming its database), and said as a flag's mistake. */
function storeTarget(uri: string, variable: 'TIS_MONGODB_URI' | 'ESR_MONGODB_URI'): MongoTarget {
  try {
    return CONFIG_TABLE[variable].type.parse(uri, '--store-uri', new Set());
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
  if (report.leftBehind !== undefined) {
    print();
    print(`left behind: ${report.leftBehind}`);
  }
}
