/**
 * One Prometheus endpoint per worker (GET /metrics on TISW_METRICS_PORT): the project's metrics
 * (prom-client) followed by the Temporal SDK's, which the SDK serves on a loopback port of its own and
 * this fetches on each scrape, so that one scrape target gives both.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { registry } from '../adapters/metrics';

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(port: number, sdkMetricsUrl: string | undefined): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || !req.url?.startsWith('/metrics')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('try GET /metrics\n');
      return;
    }
    void (async () => {
      const own = await registry.metrics();
      const sdk = sdkMetricsUrl ? await fetch(sdkMetricsUrl, { signal: AbortSignal.timeout(2000) }).then((r) => r.text()).catch(() => '# Temporal SDK metrics unavailable\n') : '';
      res.writeHead(200, { 'content-type': registry.contentType }).end(`${own}\n${sdk}`);
    })().catch((err: unknown) => res.writeHead(500).end(String(err)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '0.0.0.0', resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
