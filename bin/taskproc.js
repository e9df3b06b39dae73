#!/usr/bin/env node
// The `taskproc` command: runs the compiled CLI (npm start and npm test build it first).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));
if (!existsSync(entry)) {
  console.error('taskproc is not built yet: run `npm run build` (or `npm start`, which builds first).');
  process.exit(1);
}
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2));
