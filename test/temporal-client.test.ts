import { connectClient } from '../src/adapters/temporal';
import { testConfig, within } from './support/system';

describe('the Temporal client (connectClient)', () => {
  it('fails the calls still in flight when its connection closes, instead of retrying them on the closed channel', async () => {
    const client = await connectClient(testConfig().temporal);
    expect((await client.workflow.count(`ExecutionStatus = 'Running'`)).count).toBeGreaterThanOrEqual(0);
    // Not yet answered when the connection closes: the SDK's own retry would call again on a timer, and the
    // closed channel would throw "Channel has been shut down" out of it, an uncaught exception.
    const inFlight = Array.from({ length: 5 }, () => client.workflow.count(`ExecutionStatus = 'Running'`));
    await client.connection.close();
    const settled = await within(10_000, 'the calls in flight to settle', Promise.allSettled(inFlight));
    expect(settled.map((s) => s.status)).toEqual(Array(5).fill('rejected'));
  });
});
