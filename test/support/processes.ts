/** Our own processes, started as an operator would (`tisw worker`, `tisw receivers`), for fault tests. */
import { spawnTisw, type Child } from '../../src/local/child';

/** Runs `tisw <command>` from the compiled build (npm test builds first) with this test's environment. */
export function startTisw(command: string, env: NodeJS.ProcessEnv = {}): Child {
  return spawnTisw(command, { echo: process.env.LOG_LEVEL === 'debug', env: { ...process.env, TISW_METRICS_PORT: '0', ...env } });
}
