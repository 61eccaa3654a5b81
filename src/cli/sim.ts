// `ordo sim raft`: runs the deterministic Raft simulator over many seeds (a soak), or one seed exactly
// as a failure's repro line gives it.

import { reproLine, runSimulation, type SimOptions } from '../sequencer/raft/index.js';
import { optionalInt, parseCommand, UsageError, type CommandSpec, type ParsedFlags } from './args.js';

export const simRaftSpec: CommandSpec = {
  usage: 'ordo sim raft [--seeds N | --seed S] [--nodes 3|5] [--ticks T]',
  summary:
    'Runs the Raft core under the seeded fault-injecting simulator, checking safety on every step and liveness after the faults stop. Prints one JSON line per failing seed and a summary line; exits 1 if any seed failed. A failure prints the command line that replays it exactly.',
  flags: {
    seeds: { type: 'string', valueName: 'N', help: 'run seeds 1..N (with both 3 and 5 nodes unless --nodes is given)', default: '100' },
    seed: { type: 'string', valueName: 'S', help: 'run this one seed only (a repro)' },
    'first-seed': { type: 'string', valueName: 'S', help: 'start the --seeds range here', default: '1' },
    nodes: { type: 'string', valueName: '3|5', help: 'cluster size' },
    ticks: { type: 'string', valueName: 'T', help: 'ticks of the fault phase per seed', default: '2000' },
    'liveness-ticks': { type: 'string', valueName: 'T', help: 'bound on the liveness phase' },
    membership: { type: 'boolean', help: 'force the membership scenario (add learner, promote, remove)' },
    'no-membership': { type: 'boolean', help: 'never run the membership scenario' },
    'clock-skew': { type: 'boolean', help: 'force per-node clock drift and pauses on (default: per seed)' },
    'no-clock-skew': { type: 'boolean', help: 'keep every clock in lockstep' },
    figure8: { type: 'boolean', help: "force the figure-8 fault mode on (default: per seed)" },
    'no-figure8': { type: 'boolean', help: 'never run the figure-8 fault mode' },
    'byzantine-votes': { type: 'boolean', help: 'break the network on purpose (checks the checker)' },
  },
};

function clusterSizes(flag: string | boolean | undefined): (3 | 5)[] {
  if (flag === undefined) return [3, 5];
  if (flag === '3') return [3];
  if (flag === '5') return [5];
  throw new UsageError(`--nodes must be 3 or 5, got '${String(flag)}'`);
}

/** A --X / --no-X pair: true, false, or undefined for the simulator's per-seed default. */
function toggle(flags: ParsedFlags, name: string): boolean | undefined {
  const on = flags[name] === true;
  const off = flags[`no-${name}`] === true;
  if (on && off) throw new UsageError(`--${name} and --no-${name} exclude each other`);
  return on ? true : off ? false : undefined;
}

export async function simRaft(argv: readonly string[]): Promise<void> {
  const flags = parseCommand(simRaftSpec, argv);
  if (flags === undefined) return;
  const ticks = optionalInt(flags, 'ticks', 1) ?? 2000;
  const livenessTicks = optionalInt(flags, 'liveness-ticks', 1);
  const one = optionalInt(flags, 'seed', 0);
  const first = one ?? optionalInt(flags, 'first-seed', 0) ?? 1;
  const count = one === undefined ? (optionalInt(flags, 'seeds', 1) ?? 100) : 1;
  const membership = toggle(flags, 'membership');
  const clockSkew = toggle(flags, 'clock-skew');
  const figure8 = toggle(flags, 'figure8');
  let runs = 0;
  let failures = 0;
  const startMs = performance.now();
  for (const nodes of clusterSizes(flags.nodes)) {
    for (let seed = first; seed < first + count; seed++) {
      const options: SimOptions = {
        seed,
        nodes,
        ticks,
        ...(livenessTicks === undefined ? {} : { livenessTicks }),
        ...(membership === undefined ? {} : { membership }),
        ...(clockSkew === undefined ? {} : { clockSkew }),
        ...(figure8 === undefined ? {} : { figure8 }),
        ...(flags['byzantine-votes'] === true ? { byzantineVotes: true } : {}),
      };
      const result = runSimulation(options);
      runs++;
      if (!result.ok) {
        failures++;
        process.stdout.write(
          `${JSON.stringify({ seed, nodes, ok: false, violation: result.violation ?? null, atTick: result.atTick ?? null, repro: reproLine(options) })}\n`,
        );
      }
    }
  }
  process.stdout.write(
    `${JSON.stringify({ runs, failures, ticksPerRun: ticks, seconds: Math.round(performance.now() - startMs) / 1000 })}\n`,
  );
  if (failures > 0) process.exitCode = 1;
}
