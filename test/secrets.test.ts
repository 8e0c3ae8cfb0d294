import { randomBytes } from 'node:crypto';
import { startTisw } from './support/processes';
import { testClient } from './support/system';
import { SCHEDULE_IDS } from '../src/client/schedules';
import { MONITOR_WORKFLOW_ID } from '../src/shared/monitor';

/**
 * No configured secret ever leaves a process in a log line or an error: a worker run with a wrong broker
 * password (so its connection errors are logged), an API key, a payload key and a webhook URL.
 */
describe('secrets in the output of a running worker', () => {
  it('appear nowhere in what the worker prints, even while it logs failures', async () => {
    const password = `pw-${randomBytes(6).toString('hex')}`;
    const webhook = `http://127.0.0.1:9/hook-${randomBytes(6).toString('hex')}`;
    const payloadKey = randomBytes(32).toString('base64');
    const amqp = new URL(process.env.AMQP_URL as string);
    amqp.password = password; // refused by the broker: the listener logs its connection failures
    const worker = startTisw('worker', { AMQP_URL: amqp.toString(), TISW_ALERT_WEBHOOK_URL: webhook, TISW_PAYLOAD_KEY: payloadKey, LOG_LEVEL: 'debug' });
    try {
      await new Promise((r) => setTimeout(r, 8000));
    } finally {
      await worker.stop();
      await forgetWhatItEncrypted();
    }
    const output = worker.tail();
    expect(output).toMatch(/consumer cannot connect|ACCESS_REFUSED|cannot connect/i); // it did log the failures
    for (const secret of [password, webhook, payloadKey]) expect(output).not.toContain(secret);
  }, 60_000);
});

/**
 * The worker made this namespace's schedules and system monitor with its payload key, which the other
 * test files here do not have: remove them, as an operator changing keys would; the next worker remakes them.
 */
async function forgetWhatItEncrypted(): Promise<void> {
  const client = await testClient();
  try {
    for (const id of Object.values(SCHEDULE_IDS)) await client.schedule.getHandle(id).delete().catch(() => undefined);
    await client.workflow.getHandle(MONITOR_WORKFLOW_ID).terminate('made with a test payload key').catch(() => undefined);
  } finally {
    await client.connection.close();
  }
}
