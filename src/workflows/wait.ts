/**
 * The one way a workflow waits for a signal: until `arrived()` holds (a signal handler set what it tests)
 * or `ms` have passed; true if it holds then. Without `ms`, as long as it takes.
 * Deterministic: the timeout is a workflow timer, and `arrived` reads only workflow state.
 * A timeout of zero or less only looks and starts no timer: `condition(fn, 0)` would add the SDK's own patch
 * marker to the history, and a negative one becomes a 1 ms timer, a server round trip for nothing. So a
 * caller that waits until a moment passes `moment - Date.now()` and needs no guard of its own.
 */
import { condition } from '@temporalio/workflow';

export async function waitForSignal(arrived: () => boolean, ms?: number): Promise<boolean> {
  if (arrived()) return true;
  if (ms === undefined) await condition(arrived);
  else if (ms > 0) await condition(arrived, ms);
  // Asked again rather than taken from condition(): a signal and the timer in one activation is a signal.
  return arrived();
}
