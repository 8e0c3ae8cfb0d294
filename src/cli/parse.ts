/**
 * Parsers of command-line values, for commander options: each refuses a bad value with a message that
 * says what was expected (exit code 2).
 */
import { InvalidArgumentError } from 'commander';
import { DEANERIES, isDeanery, type Deanery } from '../shared/esr';
import { isoDate, isoInstant } from '../shared/messages';
import { UsageError } from './output';

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError(`expected a whole number of at least 1, got "${value}"`);
  return n;
}

/** A number of seconds above 0, fractions allowed (e.g. `0.5`). */
export function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || n <= 0) throw new InvalidArgumentError(`expected a number of seconds above 0, e.g. 5 or 0.5, got "${value}"`);
  return n;
}

/** Comma-separated whole numbers of at least 1 (e.g. `100,1000,10000`). */
export function positiveInts(value: string): number[] {
  return value.split(',').map((v) => positiveInt(v.trim()));
}

export function portNumber(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError(`expected a port number from 0 to 65535, got "${value}"`);
  return n;
}

/** An ISO date (midnight UTC) or instant that exists: new Date() alone would take 2026-02-30 as 2 March. */
export function instant(value: string): Date {
  if (isoDate.safeParse(value).success) return new Date(`${value}T00:00:00Z`);
  if (isoInstant.safeParse(value).success) return new Date(value);
  throw new InvalidArgumentError(`expected a real ISO date (YYYY-MM-DD) or instant with a zone, got "${value}"`);
}

/** A date YYYY-MM-DD that exists, for the option `name`. */
export function runDate(name: string, value: string): string {
  const parsed = isoDate.safeParse(value);
  if (!parsed.success) throw new UsageError(`${name} ${parsed.error.issues[0]?.message ?? 'must be a date YYYY-MM-DD'}; got "${value}"`);
  return parsed.data;
}

/** `--deanery` values (repeated, or comma-separated, any case), in the lane's order; none given: all 13. */
export function deaneries(values: string[] | undefined): Deanery[] {
  if (!values || values.length === 0) return [...DEANERIES];
  const codes = values.flatMap((v) => v.split(',')).map((v) => v.trim().toUpperCase()).filter(Boolean);
  const unknown = codes.filter((c) => !isDeanery(c));
  if (unknown.length > 0) throw new UsageError(`unknown deanery ${unknown.join(', ')}; known: ${DEANERIES.join(', ')}`);
  return DEANERIES.filter((d) => codes.includes(d));
}
