// Runs one command for the test scripts, with this process's stdio, and passes Ctrl-C or a stop
// signal on to it, so stopping `npm test` stops the tests it runs instead of orphaning them.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { constants } from 'node:os';

/** The project's own tsc, run with this node (no npx, no shell). */
export const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** The project's own Biome (a node launcher for its platform binary), run the same way. */
export const BIOME = createRequire(import.meta.url).resolve('@biomejs/biome/bin/biome');

/**
 * Resolves with the exit code; a child ended by a signal counts as 128 + its number, as shells do.
 * With `onLine`, the child's standard output is passed on as it comes and also handed over line by line.
 */
export function run(args, env = {}, onLine = undefined) {
  return new Promise((resolve, reject) => {
    const stdio = onLine ? ['inherit', 'pipe', 'inherit'] : 'inherit';
    const child = spawn(process.execPath, args, { stdio, env: { ...process.env, ...env } });
    if (onLine) {
      let rest = '';
      child.stdout.on('data', (chunk) => {
        process.stdout.write(chunk);
        const lines = (rest + chunk.toString('utf8')).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) onLine(line);
      });
      child.stdout.on('end', () => rest && onLine(rest));
    }
    const pass = (signal) => child.kill(signal);
    process.on('SIGINT', pass);
    process.on('SIGTERM', pass);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', pass);
      process.off('SIGTERM', pass);
      resolve(code ?? 128 + (constants.signals[signal] ?? 0));
    });
  });
}
