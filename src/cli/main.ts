/**
 * `tisw`, the operator's command line. Every command has --help; data-printing commands take --json;
 * exit codes: 0 success, 1 failure, 2 usage error (see output.ts). commander parses the arguments: it
 * gives help texts, subcommands and option errors that read the same everywhere, for less code than ours.
 * Each command group has its file here; the work itself is in src/client (the API), src/worker,
 * src/receivers, src/local and bench/.
 */
import { Command, CommanderError } from 'commander';
import { configHelp } from '../config/config';
import { registerLocalCommands } from './local';
import { registerOpsCommands } from './ops';
import { registerCojCommands } from './coj';
import { registerEsrCommands } from './esr';
import { registerScheduleCommands } from './schedule';
import { registerBenchCommands } from './bench';
import { registerConformanceCommands } from './conformance';
import { registerDrillCommands } from './drill';
import { EXIT, exitCodeFor, reportError } from './output';

export function buildProgram(): Command {
  const program = new Command('tisw')
    .description('Operate tis-workflows: durable CoJ submission and daily ESR app files on Temporal')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', configHelp())
    .exitOverride();
  registerLocalCommands(program);
  registerOpsCommands(program);
  registerCojCommands(program);
  registerEsrCommands(program);
  registerScheduleCommands(program);
  registerConformanceCommands(program);
  registerDrillCommands(program);
  registerBenchCommands(program);
  return program;
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
