// `npm start`: builds dist/ when it is missing or stale, then runs `taskproc serve` in this same
// process. The script is started with `exec` (package.json), so npm's child is this process: the
// SIGTERM npm passes on (from systemd or Docker) and Ctrl-C reach the server itself, which hands
// its tasks back and closes. A shell between them (`a && b`) would die and leave the server running.
import { ensureBuilt } from './ensure-built.js';

try {
  ensureBuilt();
} catch (err) {
  console.error(`Error: ${err.message}`);
  process.exit(1);
}
const { main } = await import('../dist/cli/index.js');
process.exitCode = await main(['serve', ...process.argv.slice(2)]);
