/**
 * Prometheus's tools for the tests that prove our Prometheus side: promtool (rule and metrics checker),
 * prometheus and Alertmanager, found on PATH or installed by scripts/install-prometheus.sh (Debian's
 * packages), which is the one place that knows how. Looked up when a test file is collected,
 * synchronously, so that a file can skip its tests with the reason where a tool cannot be had, instead of
 * failing on a machine without it.
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/local/project';

export type PrometheusToolName = 'promtool' | 'prometheus' | 'alertmanager';

/** Where a tool is, or why it cannot be had here. */
export type PrometheusTool = { path: string; whyNot?: undefined } | { path?: undefined; whyNot: string };

let script: { stdout: string; why: string } | undefined;

export function prometheusTool(name: PrometheusToolName): PrometheusTool {
  if (!script) {
    const run = spawnSync('bash', [path.join(PROJECT_ROOT, 'scripts', 'install-prometheus.sh')], { encoding: 'utf8', timeout: 300_000 });
    // The script says on stderr why it could not install a tool; that is the reason the tests skip with.
    script = { stdout: run.stdout ?? '', why: (run.stderr ?? '').trim() || run.error?.message || `it exited with ${run.status}` };
  }
  const line = new RegExp(`^${name.toUpperCase()}=(.+)$`, 'm').exec(script.stdout)?.[1];
  const tool: PrometheusTool = line ? { path: line } : { whyNot: `${name} is not installed and scripts/install-prometheus.sh could not install it: ${script.why}` };
  if (!tool.path) process.stderr.write(`skipping ${name} tests: ${tool.whyNot}\n`);
  return tool;
}

/** Runs `promtool args…` with `input` on stdin: its exit code and output together (promtool splits them unpredictably). */
export function runPromtool(promtoolPath: string, args: string[], input = '', cwd = PROJECT_ROOT): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(promtoolPath, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, output }));
    child.stdin.end(input);
  });
}
