/**
 * Scrubs configured secrets out of text that is about to leave the process (log lines, error messages
 * printed by the CLI). Working on values rather than field names catches a secret wherever it ends up,
 * e.g. inside a driver's error message that quotes the connection URL.
 */
export type Redact = (text: string) => string;

export const REDACTED = '***';

export function redactor(secrets: readonly string[]): Redact {
  // Longest first, so that a secret containing another is replaced whole.
  const values = [...new Set(secrets)].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  if (values.length === 0) return (text) => text;
  return (text) => values.reduce((out, secret) => out.split(secret).join(REDACTED), text);
}
