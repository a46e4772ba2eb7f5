// `npm run bench -- <name>`: runs bench/<name>.ts, which prints its table and writes bench/results/<name>.md.
import { existsSync, readdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const name = process.argv[2];
const available = readdirSync(new URL('.', import.meta.url))
  .filter((file) => file.endsWith('.ts') && !['run.ts', 'lib.ts'].includes(file))
  .map((file) => file.slice(0, -3));
const file = name ? new URL(`./${name}.ts`, import.meta.url) : undefined;
if (!name || !file || !existsSync(file) || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name>   (one of: ${available.join(', ')})`);
  process.exit(2);
}
await import(pathToFileURL(file.pathname).href);
