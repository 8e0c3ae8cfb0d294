import { NotATestDatabaseError } from '../../src/shared/errors';

/** Test code calls this before touching a database: a name without "test" in it is refused. */
export function assertTestDatabase(database: string): void {
  if (!/test/i.test(database)) {
    throw new NotATestDatabaseError(`refusing to run tests against database "${database}": its name must contain "test"`);
  }
}
