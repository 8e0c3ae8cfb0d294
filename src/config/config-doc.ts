/**
 * Writes CONFIG_TABLE into docs/configuration.md, between two markers: `npm run docs:config`.
 * test/config-doc.test.ts fails while the file and the table disagree.
 */
import fs from 'node:fs';
import { configMarkdown } from './config';

export const BEGIN = '<!-- config-table: generated from src/config/config.ts by `npm run docs:config`; do not edit -->';
export const END = '<!-- /config-table -->';

/** The document with the table between the markers replaced by the current one. */
export function withConfigTable(document: string): string {
  const begin = document.indexOf(BEGIN);
  const end = document.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`the document has no ${BEGIN} … ${END} markers`);
  return `${document.slice(0, begin + BEGIN.length)}\n${configMarkdown()}\n${document.slice(end)}`;
}

if (require.main === module) {
  const file = process.argv[2] ?? 'docs/configuration.md';
  const before = fs.readFileSync(file, 'utf8');
  const after = withConfigTable(before);
  if (after !== before) fs.writeFileSync(file, after);
  process.stdout.write(`${file}: ${after === before ? 'already up to date' : 'configuration table written'}\n`);
}
