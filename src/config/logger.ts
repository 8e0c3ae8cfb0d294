/**
 * The process logger: structured JSON lines (pino) on stderr, with every configured secret scrubbed from
 * each line as it is written. pino over console: levels, one JSON object per line for log shippers,
 * child loggers carrying context, and a write hook that makes redaction total.
 */
import pino from 'pino';
import type { Config } from './config';
import { redactor } from './redact';

export type Logger = pino.Logger;

/** `destination` defaults to stderr; tests pass their own to read what was logged. */
export function createLogger(
  config: Pick<Config, 'logLevel' | 'secrets'>,
  name: string,
  destination: pino.DestinationStream = pino.destination({ fd: 2, sync: true }),
): Logger {
  const redact = redactor(config.secrets);
  return pino(
    {
      name,
      level: config.logLevel,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: { streamWrite: redact },
    },
    destination,
  );
}
