/**
 * What every drill shares: the refusal of anything that is not this machine, the throwaway resources removed
 * whatever happens (a failure, Ctrl-C), the errors that say which of the two it was, and the bounded wait.
 */
import type { Config } from '../config/config';
import type { Logger } from '../config/logger';
import { nonLocalAddresses } from '../local/local-only';
import { TiswError } from '../shared/errors';
import { Throwaway, type ThrowawayNames } from './throwaway';

/** The drill would touch something that is not on this machine: nothing was made. */
export class DrillRefusedError extends TiswError {
  override readonly name = 'DrillRefusedError';
}

/** Ctrl-C (the options' signal): everything made so far was removed. */
export class DrillInterruptedError extends TiswError {
  override readonly name = 'DrillInterruptedError';
}

export const INTERRUPTED = 'interrupted (Ctrl-C): everything the drill had made was removed';

/** What every drill's report ends with. */
export interface DrillEnd {
  /** Everything the drill made on the local stack, all removed. */
  made: ThrowawayNames;
  /** What could not be removed (empty when everything went). */
  leftBehind: string[];
  tookMs: number;
}

/**
 * Runs `body` on a Throwaway of its own, after refusing a configuration that names another machine, and
 * removes everything it made before returning or throwing.
 */
export async function runOnThrowaway<R>(drill: string, config: Config, log: Logger, body: (throwaway: Throwaway) => Promise<R>): Promise<R & DrillEnd> {
  const foreign = nonLocalAddresses(config);
  if (foreign.length > 0) {
    throw new DrillRefusedError(`the drill runs on the local stack only (127.0.0.1, localhost, ::1), and ${foreign.join('; ')}: nothing was made. Unset them (the local defaults) or point them at \`tisw up\`'s servers`);
  }
  const started = Date.now();
  const throwaway = new Throwaway(drill);
  let result: R | undefined;
  let failure: unknown;
  try {
    result = await body(throwaway);
  } catch (err) {
    failure = err;
  }
  // Whatever happened (a failure, Ctrl-C), everything made is removed before the drill returns or throws.
  const leftBehind = await throwaway.removeAll();
  if (leftBehind.length > 0) log.error({ leftBehind }, 'the drill could not remove everything it made');
  if (failure !== undefined || result === undefined) {
    if (failure instanceof Error && leftBehind.length > 0) failure.message += `; and it could not remove: ${leftBehind.join('; ')}`;
    throw failure;
  }
  return { ...result, made: throwaway.names, leftBehind, tookMs: Date.now() - started };
}

/** Throws DrillInterruptedError once the signal has aborted: called between a drill's steps. */
export function stepUnlessAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new DrillInterruptedError(INTERRUPTED);
}

/** Resolves with `work`, or rejects when the signal aborts or the time is up, whichever comes first. */
export function bounded<T>(work: Promise<T>, what: string, ms: number, signal: AbortSignal | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    const onAbort = (): void => reject(new DrillInterruptedError(INTERRUPTED));
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    });
  });
}

/** Waits `ms`, or rejects at once when the signal aborts. */
export function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return bounded(new Promise<void>((resolve) => setTimeout(resolve, ms)), 'a pause', ms + 60_000, signal);
}
