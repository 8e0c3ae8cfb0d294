/** What every benchmark needs: timing, percentiles, a bounded pool of concurrent work, progress bars. */

/** One progress bar; the CLI draws them (src/cli/progress.ts), so the benchmarks need no terminal code. */
export interface Progress {
  tick(n?: number): void;
  stop(): void;
}

/** Opens a bar for `total` steps. */
export type ProgressBars = (label: string, total: number) => Progress;

/** For a caller that shows none (the tests, --json). */
export const noProgress: ProgressBars = () => ({ tick: () => undefined, stop: () => undefined });

export interface Latency {
  count: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

export interface Throughput extends Latency {
  inFlight: number;
  perSecond: number;
  totalMs: number;
}

export function latency(samplesMs: number[]): Latency {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number): number => round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN);
  return { count: sorted.length, p50Ms: at(0.5), p95Ms: at(0.95), p99Ms: at(0.99) };
}

/** The middle value (the mean of the two middle ones for an even count), rounded as every figure is. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return round(sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2);
}

export function onlyLatency({ count, p50Ms, p95Ms, p99Ms }: Latency): Latency {
  return { count, p50Ms, p95Ms, p99Ms };
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Runs `task(i)` for i in [0, count) with at most `inFlight` at once; returns each one's duration. */
export async function pool(count: number, inFlight: number, task: (i: number) => Promise<unknown>, onDone?: () => void): Promise<Throughput> {
  const durations: number[] = new Array<number>(count);
  let next = 0;
  const start = nowMs();
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const t0 = nowMs();
      await task(i);
      durations[i] = nowMs() - t0;
      onDone?.();
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, lane));
  const totalMs = nowMs() - start;
  return { ...latency(durations), inFlight, perSecond: round((count / totalMs) * 1000), totalMs: round(totalMs) };
}

export interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition: every sample line, with its labels; fails on a malformed line. */
function numberOf(text: string): number {
  const lower = text.toLowerCase();
  if (lower.endsWith('nan')) return Number.NaN;
  if (lower.endsWith('inf')) return lower.startsWith('-') ? -Infinity : Infinity;
  return Number(text);
}

export function parsePrometheus(text: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    // NaN and Inf in any letter case, as Prometheus reads them (prom-client writes "Nan" for a gauge not yet measured).
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([-+]?(?:[0-9.eE+-]+|nan|inf))(?: \d+)?$/i.exec(line);
    if (!match) throw new Error(`not Prometheus text: ${line}`);
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    samples.push({ name: match[1] as string, labels, value: numberOf(match[3] as string) });
  }
  return samples;
}
