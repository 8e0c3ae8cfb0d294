/**
 * promtool (Prometheus's rule and metrics checker) for the tests that prove our Prometheus side: found on
 * PATH, or installed by scripts/install-promtool.sh (Debian's prometheus package), which is the one place
 * that knows how. Looked up when a test file is collected, synchronously, so that a file can skip its
 * tests with the reason where promtool cannot be had, instead of failing on a machine without it.
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/local/project';

/** Where promtool is, or why it cannot be had here. */
export type Promtool = { path: string; whyNot?: undefined } | { path?: undefined; whyNot: string };

let found: Promtool | undefined;

export function promtool(): Promtool {
  if (found) return found;
  // The script says on stderr why it could not install promtool; that is the reason the tests skip with.
  const script = spawnSync('bash', [path.join(PROJECT_ROOT, 'scripts', 'install-promtool.sh')], { encoding: 'utf8', timeout: 300_000 });
  const line = /^PROMTOOL=(.+)$/m.exec(script.stdout ?? '')?.[1];
  const why = (script.stderr ?? '').trim() || script.error?.message || `it exited with ${script.status}`;
  found = line ? { path: line } : { whyNot: `promtool is not installed and scripts/install-promtool.sh could not install it: ${why}` };
  if (!found.path) process.stderr.write(`skipping promtool tests: ${found.whyNot}\n`);
  return found;
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
