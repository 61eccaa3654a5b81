import t from 'tap';
import { reproLine, runSimulation, type SimOptions } from '../src/sequencer/raft/index.js';

// The simulator's two targeted fault modes: clock skew (drifting clocks and unnoticed GC pauses) and
// figure 8 (a fresh leader's own-term entries withheld while older ones replicate, then the leader
// crashed). The safety suites (raft.sim3/sim5) run them on their default seeds; this file checks that
// the modes really happen, can be switched, replay exactly, and keep a correct core safe when forced on.
// Their power against planted bugs was measured by hand against a patched core (ADR 0002).

const TICKS = 2000;

t.test('clock skew is on by default for three seeds in four, and it skews', async (t) => {
  let skipped = 0;
  let doubled = 0;
  let gcPauses = 0;
  for (let seed = 1; seed <= 8; seed++) {
    const r = runSimulation({ seed, nodes: 3, ticks: TICKS });
    t.ok(r.ok, r.repro);
    if (seed % 4 === 3) {
      t.equal(r.stats.skippedTicks + r.stats.doubledTicks + r.stats.gcPauses, 0, `seed ${seed} keeps lockstep clocks`);
    }
    skipped += r.stats.skippedTicks;
    doubled += r.stats.doubledTicks;
    gcPauses += r.stats.gcPauses;
  }
  t.ok(skipped > 0, `slow clocks skipped ${skipped} ticks`);
  t.ok(doubled > 0, `fast clocks doubled ${doubled} ticks`);
  t.ok(gcPauses > 0, `${gcPauses} GC pauses`);
  const off = runSimulation({ seed: 1, nodes: 3, ticks: TICKS, clockSkew: false });
  t.equal(off.stats.skippedTicks + off.stats.doubledTicks + off.stats.gcPauses, 0, 'clockSkew: false restores lockstep');
});

t.test('figure-8 mode withholds fresh leaders entries and churns leaders, and is safe for a correct core', async (t) => {
  const failures: string[] = [];
  let withholdings = 0;
  let kills = 0;
  let leaders = 0;
  let committed = 0;
  for (const nodes of [3, 5] as const) {
    for (let seed = 1000; seed < 1040; seed++) {
      const r = runSimulation({ seed, nodes, ticks: TICKS, figure8: true });
      if (!r.ok) failures.push(r.repro);
      withholdings += r.stats.withholdings;
      kills += r.stats.leaderKills;
      leaders += r.stats.leadersElected;
      committed += r.stats.committedIndex;
    }
  }
  for (const f of failures) t.comment(f);
  t.same(failures, [], 'no seed fails');
  t.ok(withholdings >= 80 * 5, `${withholdings} withholdings`);
  t.ok(kills >= 80 * 5, `${kills} leaders killed`);
  t.ok(leaders >= 80 * 10, `${leaders} leaders elected`);
  t.ok(committed >= 80 * 100, 'the group still makes progress between episodes');
  const off = runSimulation({ seed: 1, nodes: 3, ticks: TICKS, figure8: false });
  t.equal(off.stats.withholdings + off.stats.leaderKills, 0, 'figure8: false switches it off');
  const byDefault = runSimulation({ seed: 5, nodes: 3, ticks: TICKS });
  t.ok(byDefault.stats.withholdings > 0, 'seed % 4 === 1 runs it by default');
});

t.test('the repro line names the new options and the run replays exactly', async (t) => {
  const options: SimOptions = { seed: 4245, nodes: 5, ticks: 1500, clockSkew: true, figure8: true, trace: true };
  t.equal(reproLine(options), 'ordo sim raft --seed 4245 --nodes 5 --ticks 1500 --clock-skew --figure8');
  t.equal(reproLine({ seed: 7, nodes: 3, ticks: 10, clockSkew: false, figure8: false }), 'ordo sim raft --seed 7 --nodes 3 --ticks 10 --no-clock-skew --no-figure8');
  t.equal(reproLine({ seed: 7, nodes: 3, ticks: 10 }), 'ordo sim raft --seed 7 --nodes 3 --ticks 10', 'defaults come from the seed and need no flags');
  const a = runSimulation(options);
  const b = runSimulation(options);
  t.ok(a.stats.withholdings > 0 && a.stats.skippedTicks + a.stats.doubledTicks > 0, 'both modes were active');
  t.same(a.stats, b.stats);
  t.same(a.trace, b.trace);
  t.same(runSimulation({ ...options, trace: false }).stats, a.stats, 'tracing does not change the run');
});
