/**
 * Dates and instants as tis-workflows accepts them, checked the same way by the client API, the message
 * schemas and the workflows. Date.parse alone is not enough: it takes 2026-02-30 as 2 March and 24:00 as
 * the next day, which would store a CoJ signed, or make a file for, a day other than the one sent.
 */

/** True when a YYYY-MM-DD day exists on the calendar. */
export function isRealDay(day: string): boolean {
  const time = Date.parse(`${day}T00:00:00Z`);
  return !Number.isNaN(time) && new Date(time).toISOString().startsWith(day);
}

export const RUN_DATE_SHAPE = /^\d{4}-\d{2}-\d{2}$/;

/** A calendar day, YYYY-MM-DD, that exists: an ESR run date. */
export function isRunDate(value: unknown): value is string {
  return typeof value === 'string' && RUN_DATE_SHAPE.test(value) && isRealDay(value);
}

export const ISO_INSTANT = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(:(\d{2})(\.\d{1,9})?)?(Z|[+-](\d{2}):?(\d{2}))$/;

/** True for an ISO-8601 instant with its zone (e.g. 2026-11-22T09:30:00Z) whose day and time exist. */
export function isRealInstant(value: string): boolean {
  const [, day = '', hours, minutes, , seconds = '0', , , offsetHours = '0', offsetMinutes = '0'] = ISO_INSTANT.exec(value) ?? [];
  return isRealDay(day) && Number(hours) < 24 && Number(minutes) < 60 && Number(seconds) < 60 && Number(offsetHours) < 24 && Number(offsetMinutes) < 60;
}
