import { parseArgs } from 'node:util';

export const SCENARIOS = ['schedule', 'get', 'list', 'claim', 'memory', 'pipeline', 'pickup', 'live'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
export type Dialect = 'sqlite' | 'postgres';

export interface BenchOptions {
  scenarios: ScenarioName[];
  dialects: Dialect[];
  rounds: number;
  /** Seconds of load per measurement (autocannon scenarios). */
  duration: number;
  /** Seconds of unrecorded load before the first round, on the ceiling and on taskproc. */
  warmup: number;
  connections: number;
  quick: boolean;
  /** Where the PostgreSQL runs create their schemas (database `test` on the local server by default). */
  postgresUrl: string;
  sizes: Sizes;
  /**
   * Base name of the result files under bench/results/: `latest` for every scenario on both
   * databases, else the scenarios (and the dialect), with `quick-` before smoke runs.
   */
  resultName: string;
}

export interface Sizes {
  /** Tasks in the large store (get, list, claim, memory). */
  bigStore: number;
  /** Tasks in the small store (list and claim at 1 k). */
  smallStore: number;
  /** Tasks the bench user owns in the large / small store. */
  benchUserBig: number;
  benchUserSmall: number;
  /** Tasks that flow through the pipeline scenario, per round. */
  pipelineTasks: number;
  /** Sequential pickups per round. */
  pickups: number;
  /** Sequential claim+result pairs per round and store. */
  claims: number;
  /**
   * Users with tasks of the claimed type waiting in both claim stores (issue 22), each with enough
   * that none runs dry before the last round (waitingPerUser).
   */
  waitingUsers: number;
  waitingPerUser: number;
  /** Size of the upload in the memory scenario (MiB). */
  uploadMiB: number;
}

const USAGE = `Usage: npm run bench -- [--scenario ${SCENARIOS.join(',')}] [--dialect sqlite|postgres|both]
                        [--rounds N] [--duration S] [--warmup S] [--connections N] [--quick]
                        [--store-size N] [--postgres-url URL]

  --scenario     one or more scenarios, comma-separated (default: all)
  --dialect      sqlite, postgres or both (default: both)
  --rounds       measured rounds, each with its own ceiling run (default 3)
  --duration     seconds of load per autocannon measurement (default 10; --quick: 2)
  --warmup       seconds of unrecorded load before the rounds (default 3; --quick: 1)
  --connections  autocannon connections (default 10)
  --quick        small sizes for a smoke run (20 k stored tasks, 2 000 pipeline tasks, 128 MiB upload)
  --store-size   tasks in the large store (default 1 000 000; --quick: 20 000)
  --postgres-url database for the PostgreSQL runs (default postgres://postgres@127.0.0.1:5432/test);
                 each run creates and drops its own schemas there`;

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${raw}"`);
  return n;
}

/** Parses the bench command line (the per-scenario npm scripts pass --scenario themselves). */
export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      scenario: { type: 'string' },
      dialect: { type: 'string' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      quick: { type: 'boolean' },
      'store-size': { type: 'string' },
      'postgres-url': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick === true;
  const scenarios = values.scenario === undefined ? [...SCENARIOS] : values.scenario.split(',').map((s) => s.trim());
  for (const s of scenarios) {
    if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`Unknown scenario "${s}"; known: ${SCENARIOS.join(', ')}`);
  }
  const dialect = values.dialect ?? 'both';
  if (!['sqlite', 'postgres', 'both'].includes(dialect)) throw new Error(`--dialect must be sqlite, postgres or both, got "${dialect}"`);
  const bigStore = Math.round(positive('store-size', values['store-size'], quick ? 20_000 : 1_000_000));
  const rounds = Math.round(positive('rounds', values.rounds, 3));
  const claims = quick ? 100 : 500;
  const waitingUsers = 1_000;
  const all = scenarios.length === SCENARIOS.length;
  const base = all ? 'latest' : SCENARIOS.filter((s) => scenarios.includes(s)).join('-');
  const name = `${quick ? 'quick-' : ''}${base}${dialect === 'both' ? '' : `-${dialect}`}`;
  return {
    // Always in the canonical order: the scenarios on the seeded stores first, then those on the empty one.
    scenarios: SCENARIOS.filter((s) => scenarios.includes(s)),
    dialects: dialect === 'both' ? ['sqlite', 'postgres'] : [dialect as Dialect],
    rounds,
    duration: positive('duration', values.duration, quick ? 2 : 10),
    warmup: positive('warmup', values.warmup, quick ? 1 : 3),
    connections: Math.round(positive('connections', values.connections, 10)),
    quick,
    postgresUrl: values['postgres-url'] ?? 'postgres://postgres@127.0.0.1:5432/test',
    sizes: {
      bigStore,
      smallStore: Math.min(1_000, bigStore),
      benchUserBig: Math.min(10_000, Math.floor(bigStore / 10)),
      benchUserSmall: 100,
      pipelineTasks: quick ? 2_000 : 20_000,
      pickups: quick ? 50 : 300,
      claims,
      waitingUsers,
      // The fair queue hands out one task of every waiting user per vtime (the bench user's own
      // queue included), so the warm-up and the rounds take about (rounds + 1) × claims / users
      // tasks from each; one more keeps all of them waiting to the end.
      waitingPerUser: Math.ceil(((rounds + 1) * claims) / waitingUsers) + 1,
      uploadMiB: quick ? 128 : 1024,
    },
    resultName: name,
  };
}
