/**
 * Runs tasks that share a key one after another, and tasks with different keys side by side.
 *
 * Why TIS's store needs it: its CoJ write is a conditional update (keep the newer signature), and the
 * reference receiver handles up to its prefetch of messages at once. MongoDB applies such an update
 * atomically; FerretDB, which stands in for it here, reads the document and writes it back, so two CoJs
 * of one programme membership stored at the same moment could leave the older one (seen in
 * coj-submission.test.ts when a newer signature overtook an older one in flight).
 */
export class OneAtATime {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with a task running or waiting (tests: nothing is kept once done). */
  get size(): number {
    return this.tails.size;
  }
}
