// The execution thread's entry point (see applier.ts): opens the node's LMDB environment, applies the
// committed entries the main thread hands over, in order, and reports each entry's outcomes.

import { parentPort, workerData } from 'node:worker_threads';
import { PartitionStore } from '../partitions/index.js';
import { Scheduler } from '../scheduler/index.js';
import { errorMessage } from '../util/index.js';
import type { ExecutionThreadData, FromExecutionThread, ToExecutionThread } from './applier.js';
import { openEnvironment } from './dataDir.js';

const port = parentPort;
if (port === null) throw new Error('executionThread.js runs only as a worker thread');
const data = workerData as ExecutionThreadData;
const env = openEnvironment(data.dataDir);
const store = PartitionStore.open(env, { checksumEveryPositions: data.checksumEveryPositions });
const scheduler = new Scheduler(store);
let failed = false;

function send(msg: FromExecutionThread): void {
  port?.postMessage(msg);
}

port.on('message', (msg: ToExecutionThread) => {
  if (msg.kind === 'close') {
    void env.close().then(() => {
      send({ kind: 'closed' });
      port.close();
    });
    return;
  }
  if (failed) return;
  try {
    const executed = scheduler.applyEntry(msg.entry).map((e) =>
      // The main thread needs outcomes, not the writes already in LMDB: don't copy them across.
      e.outcome.status === 'committed' ? { ...e, outcome: { ...e.outcome, writes: [] } } : e,
    );
    send({ kind: 'applied', applied: { position: msg.entry.position, checksum: store.checksum, executed } });
  } catch (err) {
    failed = true;
    send({ kind: 'fatal', message: `applying log position ${msg.entry.position} failed: ${errorMessage(err)}` });
  }
});
