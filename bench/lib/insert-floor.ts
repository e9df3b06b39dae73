import { type ChildProcess, fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, ROOT } from './server.js';

/** The insert-floor server (insert-floor-server.ts) on a fresh, migrated SQLite store of its own. */
export class InsertFloor {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly url: string,
  ) {}

  static async start(answer: string): Promise<InsertFloor> {
    const dir = await mkdtemp(join(tmpdir(), 'taskproc-bench-floor-'));
    await cli({ dataDir: dir, databaseUrl: null }, ['migrate']);
    const child = fork(join(ROOT, 'bench', 'lib', 'insert-floor-server.ts'), [join(dir, 'taskproc.db'), answer], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`insert-floor server exited with ${code}`)));
      child.once('message', (msg: { port: number }) => resolve(new InsertFloor(child, dir, `http://127.0.0.1:${msg.port}`)));
    });
  }

  async stop(): Promise<void> {
    this.child.removeAllListeners('exit');
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.disconnect();
    await exited;
    await rm(this.dir, { recursive: true, force: true });
  }
}
