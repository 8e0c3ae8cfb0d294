/** Local HTTP servers standing for the operators' webhooks: each records every JSON body POSTed to it, and when it came. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface JsonReceiver<T> {
  url: string;
  bodies: T[];
  /** When a body of `bodies` arrived (epoch ms): detection times end there. */
  receivedAt(body: T): number;
  close(): Promise<void>;
}

export async function startJsonReceiver<T extends object>(status = 200): Promise<JsonReceiver<T>> {
  const bodies: T[] = [];
  const arrivals = new WeakMap<object, number>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const parsed = JSON.parse(body) as T;
      arrivals.set(parsed, Date.now());
      bodies.push(parsed);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    bodies,
    receivedAt: (body) => arrivals.get(body) ?? Number.NaN,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A tis-workflows alert as the worker's webhook sends it (Slack-compatible: `text`, and ours under `tisw`). */
export interface TiswAlertBody {
  text: string;
  tisw: { kind: string; summary: string; details?: Record<string, unknown>; resolved?: true };
}

/** Stands for Slack: the alerts tis-workflows' workers POST (ALERT_WEBHOOK_URL). */
export interface WebhookReceiver extends Omit<JsonReceiver<TiswAlertBody>, 'bodies'> {
  alerts: TiswAlertBody[];
}

export async function startWebhookReceiver(status = 200): Promise<WebhookReceiver> {
  const { bodies, ...rest } = await startJsonReceiver<TiswAlertBody>(status);
  return { ...rest, alerts: bodies };
}
