/**
 * The one way tis-workflows waits for something that happens in its own time (a server up, a schedule
 * updated, a run finished in a test). Not for workflow code, which waits with Temporal's timers.
 */

export interface PollOptions {
  /** Checked before each probe: an error it returns ends the wait at once (e.g. the server being waited for exited). */
  failed?: () => Error | undefined;
  /** @default 100 */
  intervalMs?: number;
}

/**
 * Polls `probe` until it gives a value other than undefined, and returns that value; throws `timed out
 * after <ms> ms waiting for <what>` once `timeoutMs` has passed. A condition to wait for is a probe giving
 * `true` or undefined (`cond ? true : undefined`): a probe that gives `false` has given a value, and ends the wait.
 */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, options: PollOptions = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const early = options.failed?.();
    if (early) throw early;
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
  }
}

/** Polls `check` until it returns true; eventually() for a yes/no condition. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, failed?: () => Error | undefined): Promise<void> {
  await eventually(what, async () => ((await check()) ? true : undefined), timeoutMs, failed ? { failed } : {});
}
