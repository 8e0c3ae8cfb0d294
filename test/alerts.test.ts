import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Alerter } from '../src/adapters/alerts';
import { registry } from '../src/adapters/metrics';
import { freePort } from '../src/local/ports';
import { testConfig } from './support/system';
import { createLogger } from '../src/config/logger';
import { startWebhookReceiver } from './support/webhook';

describe('the alert module', () => {
  const lines: string[] = [];
  const log = createLogger({ ...testConfig(), logLevel: 'info' }, 'test', { write: (line: string) => lines.push(line) });
  const alert = { kind: 'coj-late' as const, summary: 'the CoJ of programme membership X is late', details: { programmeMembershipTisId: 'X' } };

  const counted = async (): Promise<number> => (await registry.getSingleMetric('tisw_alerts_total')?.get())?.values.find((v) => v.labels.kind === 'coj-late')?.value ?? 0;

  it('logs a structured line, counts it, and POSTs Slack-compatible JSON to the webhook', async () => {
    const webhook = await startWebhookReceiver();
    const before = await counted();
    try {
      await new Alerter({ log, webhookUrl: webhook.url }).raise(alert);
    } finally {
      await webhook.close();
    }
    expect(webhook.alerts).toEqual([{ text: expect.stringContaining('coj-late: the CoJ of programme membership X is late'), tisw: expect.objectContaining({ kind: 'coj-late', details: { programmeMembershipTisId: 'X' } }) }]);
    expect(await counted()).toBe(before + 1);
    expect(lines.map((l) => JSON.parse(l) as { alert?: string; msg: string })).toContainEqual(expect.objectContaining({ alert: 'coj-late', msg: expect.stringContaining('ALERT coj-late') }));
  });

  it.each([
    ['answers 500', async () => { const w = await startWebhookReceiver(500); return { url: w.url, close: w.close }; }],
    ['is not listening', async () => ({ url: `http://127.0.0.1:${await freePort()}/hook`, close: async () => undefined })],
    ['never answers', async () => {
      const server = http.createServer(() => undefined); // holds every request open
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
    }],
  ])('never throws when the webhook %s: the alert is still logged and counted', async (_what, start) => {
    const hook = await start();
    const before = await counted();
    try {
      await expect(new Alerter({ log, webhookUrl: hook.url, webhookTimeoutMs: 500 }).raise(alert)).resolves.toBeUndefined();
    } finally {
      await hook.close();
    }
    expect(await counted()).toBe(before + 1);
    expect(lines.some((l) => /alert webhook (failed|answered with an error)/.test(l))).toBe(true);
  });
});
