/** A local HTTP server standing for Slack: records every alert POSTed to it. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WebhookReceiver {
  url: string;
  alerts: Array<{ text: string; tisw: { kind: string; summary: string; details?: Record<string, unknown>; resolved?: true } }>;
  /** When an alert of `alerts` arrived (epoch ms): detection times end there. */
  receivedAt(alert: WebhookReceiver['alerts'][number]): number;
  close(): Promise<void>;
}

export async function startWebhookReceiver(status = 200): Promise<WebhookReceiver> {
  const alerts: WebhookReceiver['alerts'] = [];
  const arrivals = new WeakMap<object, number>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const alert = JSON.parse(body) as WebhookReceiver['alerts'][number];
      arrivals.set(alert, Date.now());
      alerts.push(alert);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    alerts,
    receivedAt: (alert) => arrivals.get(alert) ?? Number.NaN,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
