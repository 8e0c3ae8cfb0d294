/**
 * Runs `work` on each item, at most `atOnce` at a time, and resolves with the results in the items' order.
 * For many small reads or queries against one server: all at once would queue them there (and hold as many
 * connections), one after another would add up their round trips.
 */
export async function inTurns<T, R>(items: readonly T[], atOnce: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(atOnce, items.length) }, lane));
  return results;
}
