import { OneAtATime } from '../src/adapters/one-at-a-time';

describe('OneAtATime', () => {
  const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it('runs tasks of one key in order, one at a time, and of other keys alongside; a failure does not stop the next', async () => {
    const queue = new OneAtATime();
    const events: string[] = [];
    const task = (name: string, fail = false) => async (): Promise<string> => {
      events.push(`${name} start`);
      await tick();
      events.push(`${name} end`);
      if (fail) throw new Error(name);
      return name;
    };
    const results = await Promise.allSettled([queue.run('a', task('a1', true)), queue.run('a', task('a2')), queue.run('b', task('b1'))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect(events.indexOf('a1 end')).toBeLessThan(events.indexOf('a2 start'));
    expect(events.indexOf('b1 start')).toBeLessThan(events.indexOf('a1 end'));
    await tick();
    expect(queue.size).toBe(0);
  });
});
