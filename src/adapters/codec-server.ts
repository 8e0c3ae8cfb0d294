/**
 * The codec server: lets the Temporal UI show payloads that TISW_PAYLOAD_KEY encrypts (design: operators
 * read stuck runs in the UI; encrypted, every input, signal and result there is an opaque blob).
 * It speaks the UI's remote codec protocol: POST /decode and POST /encode with
 * `{ "payloads": [{ "metadata": { "<key>": "<base64>" }, "data": "<base64>" }] }`, answered in the same
 * shape. The browser calls it directly, so it answers CORS preflights, for the allowed origins only.
 *
 * It hands decrypted trainee data to whoever can reach it: it listens on loopback by default, refuses
 * other origins, and in production belongs behind the same authentication as the UI itself.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { Config } from '../config/config';
import { createLogger, type Logger } from '../config/logger';
import { AesGcmPayloadCodec } from './payload-codec';

export interface CodecServerOptions {
  codec: PayloadCodec;
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** Origins whose pages may call it (the Temporal UI's), e.g. http://127.0.0.1:8233. */
  allowedOrigins: string[];
  log: Logger;
}

export interface CodecServer {
  url: string;
  close(): Promise<void>;
}

/** Bodies larger than this are refused: a page of payloads is kilobytes, and decryption holds it all. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

class BadRequest extends Error {}

export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const log = options.log.child({ component: 'codec-server' });
  const allowed = new Set(options.allowedOrigins.map((o) => o.replace(/\/$/, '')));
  const server = http.createServer((req, res) => {
    const origin = req.headers.origin;
    if (origin !== undefined && !allowed.has(origin)) {
      // A page from elsewhere must not read trainee data through a user's browser.
      return send(res, 403, { error: `origin ${origin} is not allowed to use this codec server` });
    }
    if (origin !== undefined) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Allow-Credentials', 'true');
    }
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'content-type, x-namespace, authorization');
      res.setHeader('Access-Control-Max-Age', '600');
      return send(res, 204);
    }
    const operation = req.url === '/decode' ? 'decode' : req.url === '/encode' ? 'encode' : undefined;
    if (req.method !== 'POST' || !operation) return send(res, 404, { error: 'POST /decode or POST /encode' });
    void readBody(req)
      .then(async (body) => {
        const payloads = parsePayloads(body);
        const converted = await options.codec[operation](payloads);
        send(res, 200, { payloads: converted.map(payloadToJson) });
      })
      .catch((err: unknown) => {
        const message = err instanceof Error ? err.message : String(err);
        // No payload content in the log: only why it failed.
        log.warn({ operation, namespace: req.headers['x-namespace'], error: message }, 'codec request failed');
        send(res, err instanceof BadRequest ? 400 : 422, { error: message });
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', resolve);
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The codec server as the configuration describes it (TISW_PAYLOAD_KEY, TISW_CODEC_PORT, its allowed
 * origins): `tisw codec-server` and `tisw up` both start it so. Undefined, and nothing started, when
 * TISW_PAYLOAD_KEY is not set: payloads are then not encrypted, and the UI needs no codec server.
 */
export async function startConfiguredCodecServer(config: Config, { host, port }: { host?: string | undefined; port?: number | undefined } = {}): Promise<CodecServer | undefined> {
  const { payloadKey } = config.temporal;
  if (!payloadKey) return undefined;
  return startCodecServer({
    codec: new AesGcmPayloadCodec(payloadKey),
    ...(host !== undefined && { host }),
    port: port ?? config.codecServer.port,
    allowedOrigins: config.codecServer.allowedOrigins,
    log: createLogger(config, 'tisw-codec-server'),
  });
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BadRequest(`body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parsePayloads(body: string): Payload[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new BadRequest('the body is not JSON');
  }
  const list = (parsed as { payloads?: unknown } | null)?.payloads;
  if (!Array.isArray(list)) throw new BadRequest('the body has no "payloads" array');
  try {
    // Proto3 JSON: bytes fields are base64 strings, which fromObject decodes.
    return list.map((p) => temporal.api.common.v1.Payload.fromObject(p as Record<string, unknown>));
  } catch (err) {
    throw new BadRequest(`a payload is malformed: ${(err as Error).message}`);
  }
}

function payloadToJson(payload: Payload): Record<string, unknown> {
  return temporal.api.common.v1.Payload.toObject(temporal.api.common.v1.Payload.create(payload), { bytes: String });
}

function send(res: http.ServerResponse, status: number, body?: object): void {
  res.statusCode = status;
  if (body) res.setHeader('Content-Type', 'application/json');
  res.end(body ? JSON.stringify(body) : undefined);
}
