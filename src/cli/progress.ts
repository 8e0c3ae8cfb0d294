/**
 * A progress bar on stderr for anything long, only when stderr is a terminal (scripts and CI get clean
 * output). cli-progress: a maintained bar with ETA and rate, rather than our own terminal code.
 */
import { SingleBar, Presets } from 'cli-progress';
import { noProgress, type Progress, type ProgressBars } from '../../bench/measure';

export function progress(label: string, total: number, enabled = process.stderr.isTTY): Progress {
  if (!enabled) return noProgress(label, total);
  const bar = new SingleBar(
    { format: `${label.padEnd(34)} [{bar}] {value}/{total} {percentage}% | {eta_formatted} left`, stream: process.stderr, hideCursor: true },
    Presets.shades_classic,
  );
  bar.start(total, 0);
  return { tick: (n = 1) => bar.increment(n), stop: () => bar.stop() };
}

/** Bars for a command: drawn on a terminal, none with --json (whose output must be one JSON document). */
export function progressBars(json: boolean | undefined): ProgressBars {
  return (label, total) => progress(label, total, !json && process.stderr.isTTY);
}
