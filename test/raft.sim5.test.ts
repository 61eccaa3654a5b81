import t from 'tap';
import { SIM_SEEDS, simulateSeeds } from './raft.simSeeds.js';

t.test(`5-node groups stay safe under faults and recover once the faults stop, for ${SIM_SEEDS} seeds`, (t) =>
  simulateSeeds(t, 5),
);
