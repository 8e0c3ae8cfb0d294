/**
 * Which configured addresses are not this machine: what a command that makes and removes things of its own
 * (`tisw drill`) checks before it touches anything, so that it never runs against a real TIS.
 */
import type { Config } from '../config/config';
import { nonLocalMongoUris } from './demo';
import { LOCAL_HOSTS, splitHostPort } from './ports';

/** One line per variable that names another machine (never the value itself: it may hold a password). */
export function nonLocalAddresses(config: Config): string[] {
  const problems: string[] = [];
  const temporal = splitHostPort(config.temporal.address).host.toLowerCase();
  if (!LOCAL_HOSTS.has(temporal)) problems.push(`TEMPORAL_ADDRESS names ${temporal}`);
  else if (config.temporal.apiKey !== undefined) problems.push('TEMPORAL_API_KEY is set (Temporal Cloud)');
  let amqpHost: string;
  try {
    amqpHost = new URL(config.amqp.url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    amqpHost = 'an address that cannot be read';
  }
  if (!LOCAL_HOSTS.has(amqpHost)) problems.push(`AMQP_URL names ${amqpHost}`);
  return [...problems, ...nonLocalMongoUris(config)];
}
