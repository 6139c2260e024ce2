// Parse AsyncAPI documents with @asyncapi/parser, in one node start.
// Prints one JSON line per diagnostic ({file, severity, code, message, path}; severity
// 0 is an error) and one {file, parsed} line per document. Exits 1 when any document
// did not parse or has an error, else 0.
// Usage: node validate.mjs <document.json>...
import { readFile } from 'node:fs/promises';
import { Parser } from '@asyncapi/parser';

const ERROR = 0;
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node validate.mjs <document.json>...');
  process.exit(2);
}
const parser = new Parser();
let failed = false;
for (const file of files) {
  const text = await readFile(file, 'utf8');
  const { document, diagnostics } = await parser.parse(text, { source: file });
  for (const d of diagnostics) {
    console.log(JSON.stringify({
      file, severity: d.severity, code: d.code, message: d.message, path: d.path.join('/'),
    }));
  }
  const parsed = document !== undefined;
  console.log(JSON.stringify({ file, parsed }));
  failed ||= !parsed || diagnostics.some((d) => d.severity === ERROR);
}
process.exit(failed ? 1 : 0);
