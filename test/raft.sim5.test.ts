import t from 'tap';
import { runSimulation } from '../src/sequencer/raft/index.js';

// CI's share of the simulator: seeds of the 5-node group under drops, delays, duplicates,
// reordering, partitions, pauses and crashes, each checked for safety on every step and for liveness
// once the faults stop. (The 3- and 5-node runs are separate files so tap runs them in parallel.)
const SEEDS = 300;
const TICKS = 2000;

t.test('5-node groups stay safe under faults and recover once the faults stop, for ' + SEEDS + ' seeds', async (t) => {
  const failures: string[] = [];
  let confChanges = 0;
  let reads = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = runSimulation({ seed, nodes: 5, ticks: TICKS });
    if (!r.ok) failures.push(r.repro);
    confChanges += r.stats.confChangesCommitted;
    reads += r.stats.readsConfirmed;
  }
  for (const f of failures) t.comment(f);
  t.same(failures, [], 'no seed fails');
  t.ok(confChanges >= SEEDS / 4, 'membership changes were part of the runs');
  t.ok(reads > 0, 'linearizable reads were part of the runs');
});
