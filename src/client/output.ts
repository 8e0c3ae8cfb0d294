/**
 * How every command ends and prints: exit 0 on success, 1 on failure, 2 on a usage error; errors are
 * one plain line on stderr with every configured secret scrubbed; `--json` output is one JSON document.
 */
import { ConfigError, loadConfig, type Config } from '../config/config';
import { redactor } from '../config/redact';
import { InvalidInputError } from '../shared/errors';

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A mistake in how the command was called: exit code 2, with what to type instead. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A command that ran and found something wrong (e.g. `health` with a check failing): exit 1, no stack. */
export class CommandFailed extends Error {
  override readonly name = 'CommandFailed';
}

let redact = (text: string): string => text;

/** The configuration, for a command: loaded from the environment, its secrets kept out of all output. */
export function config(): Config {
  const loaded = loadConfig();
  redact = redactor(loaded.secrets);
  return loaded;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${redact(JSON.stringify(value, null, 2))}\n`);
}

export function print(line = ''): void {
  process.stdout.write(`${redact(line)}\n`);
}

export function exitCodeFor(err: unknown): number {
  return err instanceof UsageError || err instanceof InvalidInputError ? EXIT.usage : EXIT.failure;
}

export function reportError(err: unknown): void {
  const message = err instanceof ConfigError ? `configuration: ${err.message}` : err instanceof Error ? err.message : String(err);
  process.stderr.write(`tisw: ${redact(message)}\n`);
}
