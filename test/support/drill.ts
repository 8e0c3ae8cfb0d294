/** What every `tisw drill` must do before it makes anything: refuse servers that are not on this machine. */
import { loadConfig, type Config } from '../../src/config/config';
import { tisw } from './processes';

/**
 * `run` (the drill's function) refuses each of a remote broker, Temporal and `storeVariable`'s MongoDB,
 * naming the setting and its host; the CLI exits 1 saying so, without printing the URL's password; `--help`
 * shows its usage.
 */
export async function expectLocalOnly(drill: string, run: (config: Config) => Promise<unknown>, storeVariable: string): Promise<{ help: string }> {
  for (const [variable, value, host] of [
    ['AMQP_URL', 'amqp://guest:guest@rabbitmq.internal:5672/', 'rabbitmq.internal'],
    ['TEMPORAL_ADDRESS', 'temporal.internal:7233', 'temporal.internal'],
    [storeVariable, 'mongodb://db.internal:27017/tisw_test', 'db.internal'],
  ] as const) {
    await expect(run(loadConfig({ ...process.env, [variable]: value }))).rejects.toThrow(`${variable} names ${host}`);
  }
  const help = await tisw(['drill', drill, '--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain(`Usage: tisw drill ${drill} [options]`);
  const cli = await tisw(['drill', drill], { AMQP_URL: 'amqp://tisw:hunter2@rabbitmq.internal:5672/tis' });
  expect(cli.code).toBe(1);
  expect(cli.stderr).toMatch(/local stack only .*AMQP_URL names rabbitmq\.internal: nothing was made/);
  expect(cli.stderr).not.toContain('hunter2');
  return { help: help.stdout };
}
