/**
 * How every command starts, prints and ends: the configuration from the environment, a Temporal client
 * closed after the command; exit 0 on success, 1 on failure, 2 on a usage error; errors are one plain
 * line on stderr with every configured secret scrubbed; `--json` output is one JSON document.
 */
import type { Client } from '@temporalio/client';
import { ConfigError, loadConfig, type Config } from '../config/config';
import { connectClient } from '../adapters/temporal';
import { redactor } from '../config/redact';
import { InvalidInputError } from '../shared/errors';
import { withUpSettings } from '../local/up-settings';

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

/**
 * The configuration, for a command: loaded from the environment (under the settings of a `tisw up` running
 * on the same data directory: up-settings.ts), its secrets kept out of all output.
 */
export function config(): Config {
  const own = loadConfig();
  const env = withUpSettings(process.env, own.local.dataDir);
  const loaded = env === process.env ? own : loadConfig(env);
  redact = redactor(loaded.secrets);
  return loaded;
}

/** Runs `fn` with a Temporal client for the configured namespace, and closes it after. */
export async function withClient<T>(fn: (client: Client, config: Config) => Promise<T>): Promise<T> {
  const cfg = config();
  const client = await connectClient(cfg.temporal);
  try {
    return await fn(client, cfg);
  } finally {
    await client.connection.close();
  }
}

/** Resolves on the first SIGINT or SIGTERM: how a long-running command waits to be stopped. */
export function untilStopped(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

export function printJson(value: unknown): void {
  process.stdout.write(`${redact(JSON.stringify(value, null, 2))}\n`);
}

export function print(line = ''): void {
  process.stdout.write(`${redact(line)}\n`);
}

/**
 * Rows under a header, each column as wide as its widest cell: for a command whose output is a list of
 * like things (e.g. `tisw conformance`'s cases).
 */
export function printTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): void => print(cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
  line(header);
  line(widths.map((w) => '-'.repeat(w)));
  for (const r of rows) line(r);
}

export function exitCodeFor(err: unknown): number {
  return err instanceof UsageError || err instanceof InvalidInputError ? EXIT.usage : EXIT.failure;
}

export function reportError(err: unknown): void {
  const message = err instanceof ConfigError ? `configuration: ${err.message}` : err instanceof Error ? err.message : String(err);
  process.stderr.write(`tisw: ${redact(message)}\n`);
}
