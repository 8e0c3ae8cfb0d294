/**
 * One Prometheus endpoint per worker (GET /metrics on TISW_METRICS_PORT): the project's metrics
 * (prom-client) followed by the Temporal SDK's, which the SDK serves on a loopback port of its own and
 * this fetches on each scrape, so that one scrape target gives both.
 * Several workers on one host (`tisw up --workers N`, or an operator starting `tisw worker` again) cannot
 * share a port: each takes the first free one from TISW_METRICS_PORT up, within METRICS_PORT_RANGE, so
 * that a cluster's ports stay a short known list for the scrape configuration (deploy/prometheus/).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { registry } from '../adapters/metrics';

export interface MetricsServer {
  /** The port it listens on: TISW_METRICS_PORT, or the next free one after it. */
  port: number;
  close(): Promise<void>;
}

/**
 * How many ports from TISW_METRICS_PORT up a worker tries: room for a host's workers, and the list
 * deploy/prometheus/prometheus.yml scrapes on each host (keep the two the same).
 */
export const METRICS_PORT_RANGE = 20;

/** Listens on the first free port of `firstPort` … `firstPort + METRICS_PORT_RANGE - 1`; refuses, naming TISW_METRICS_PORT, when all are taken. */
export async function startMetricsServer(firstPort: number, sdkMetricsUrl: string | undefined): Promise<MetricsServer> {
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
  const lastPort = Math.min(firstPort + METRICS_PORT_RANGE - 1, 65_535);
  // Binding is the test of a port (no probe first): two workers starting at once cannot both take one.
  for (let port = firstPort; ; port++) {
    try {
      await listen(server, port);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      if (port >= lastPort) {
        throw new Error(
          `no free port for the metrics endpoint: ${firstPort}–${lastPort} (TISW_METRICS_PORT=${firstPort} and the ${lastPort - firstPort} after it) are all in use; ` +
            'set TISW_METRICS_PORT to the start of a free range, or to 0 for no metrics endpoint',
        );
      }
    }
  }
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** One attempt at `port`; its listeners are removed either way, since a failed attempt leaves the server to try another. */
function listen(server: http.Server, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const listening = (): void => {
      server.off('error', failed);
      resolve();
    };
    const failed = (err: Error): void => {
      server.off('listening', listening);
      reject(err);
    };
    server.once('error', failed);
    server.once('listening', listening);
    server.listen(port, '0.0.0.0');
  });
}
