/** Waiting in tests for what the system does in its own time. */

/**
 * Polls `probe` every 100 ms until it gives a value other than undefined, and returns that value; throws
 * `timed out waiting for <what>` once `timeoutMs` has passed. A condition to wait for is a probe giving
 * `true` or undefined (`cond ? true : undefined`): a probe that gives `false` has given a value, and ends the wait.
 */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
