// One embedded OrdoDB node: the input log, the sequencer, the scheduler and the store on one LMDB
// environment. Tests, benchmarks and the SQL layer use it through `openNode`.

import type { RootDatabase } from 'lmdb';
import { validateParams, validateProgram, type TxnOutcome } from '../executor/index.js';
import { PartitionStore, decodeTuple } from '../partitions/index.js';
import { ForwardClient, GrpcTransport, sequencerService } from '../rpc/index.js';
import { Scheduler, TxnDedupDefaults, type ExecutedTxn } from '../scheduler/index.js';
import { LmdbRaftStorage, type RaftDriverStatus } from '../sequencer/raft/index.js';
import {
  InputLog,
  LocalSequencer,
  RaftSequencer,
  RaftSequencerDefaults,
  SequencerDefaults,
  VolatileLogSink,
  EMPTY_CATALOG,
  type Catalog,
  type ControlEntry,
  type LogEntry,
  type LogSink,
  type Sequencer,
  type TxnRequest,
} from '../sequencer/index.js';
import { OrdoError, SqlState, assert } from '../util/index.js';
import { lockDataDir, openEnvironment, type DataDirLock } from './dataDir.js';

/** Membership of a Raft-replicated node (every node holds the whole data set and executes the log). */
export interface ClusterOptions {
  readonly nodeId: string;
  readonly clusterId: string;
  /** Every voter's node-to-node (Raft and forwarding) address, this node's own included. */
  readonly peers: Readonly<Record<string, string>>;
  /** host:port this node serves Raft and forwarding on (port 0 picks a free one). */
  readonly listen: string;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  /** How long a submission may look for a leader that commits it. */
  readonly submitTimeoutMs?: number;
}

/** What /health and `ordo cluster status` report about a cluster node. */
export interface ClusterStatus {
  readonly nodeId: string;
  readonly clusterId: string;
  readonly role: string;
  readonly term: number;
  readonly leader: string;
  readonly commit: number;
  readonly applied: number;
  readonly raftPort: number;
}

export interface NodeOptions {
  readonly dataDir: string;
  /** How long the sequencer collects transactions into one batch. */
  readonly epochMs?: number;
  /** A batch closes early when it has this many transactions. */
  readonly maxBatchTxns?: number;
  readonly maxPendingTxns?: number;
  /** Record the state checksum every this many log positions (fixed when the data directory is created). */
  readonly checksumEveryPositions?: number;
  /**
   * false runs without the input log: nothing is durable and nothing can be replayed. Only for
   * measuring what the log costs (`ordo bench engine` runs both).
   */
  readonly logEnabled?: boolean;
  /** Run as a member of a Raft group (open with openClusterNode). */
  readonly cluster?: ClusterOptions;
}

export const NodeDefaults = {
  ...SequencerDefaults,
  checksumEveryPositions: 100,
} as const;

export type TxnResult = TxnOutcome & { readonly txnId: string; readonly position: number };

interface PendingTxn {
  readonly resolve: (result: TxnResult) => void;
  readonly reject: (err: Error) => void;
}

export class OrdoNode {
  readonly dataDir: string;
  private readonly env: RootDatabase;
  private readonly lock: DataDirLock;
  private readonly log: InputLog;
  private readonly store: PartitionStore;
  private readonly scheduler: Scheduler;
  private readonly sequencer: Sequencer;
  private readonly raft: { readonly sequencer: RaftSequencer; readonly transport: GrpcTransport; readonly forwarder: ForwardClient; readonly options: ClusterOptions } | undefined;
  private readonly pending = new Map<string, PendingTxn>();
  private closing: Promise<void> | undefined;

  private constructor(options: NodeOptions, lock: DataDirLock, env: RootDatabase) {
    this.dataDir = options.dataDir;
    this.lock = lock;
    this.env = env;
    this.log = InputLog.open(env);
    this.store = PartitionStore.open(env, {
      checksumEveryPositions: options.checksumEveryPositions ?? NodeDefaults.checksumEveryPositions,
    });
    this.scheduler = new Scheduler(this.store);
    const cluster = options.cluster;
    // A retried transaction id must not execute twice (scheduler/txnDedup.ts): the window of recent ids
    // is rebuilt from the log's last positions before anything new is applied.
    const applied = this.store.appliedPosition;
    const from = Math.max(1, applied - TxnDedupDefaults.windowPositions + 1);
    if (applied <= this.log.lastPosition) for (const entry of this.log.readRange(from, applied)) this.scheduler.remember(entry);
    this.recover();
    const sequencerOptions = {
      epochMs: options.epochMs ?? NodeDefaults.epochMs,
      maxBatchTxns: options.maxBatchTxns ?? NodeDefaults.maxBatchTxns,
      maxPendingTxns: options.maxPendingTxns ?? NodeDefaults.maxPendingTxns,
      onDurable: (entry: LogEntry) => this.deliver(this.scheduler.applyEntry(entry)),
    };
    if (cluster === undefined) {
      this.raft = undefined;
      const sink: LogSink = options.logEnabled === false ? new VolatileLogSink(this.log.lastPosition) : this.log;
      this.sequencer = new LocalSequencer(sink, sequencerOptions);
      return;
    }
    assert(options.logEnabled !== false, 'a cluster node needs its input log');
    // Refuses a data directory of another cluster or node (RaftIdentityMismatchError), changing nothing.
    const storage = LmdbRaftStorage.open(env, { clusterId: cluster.clusterId, nodeId: cluster.nodeId });
    const forwarder = new ForwardClient();
    const transport = new GrpcTransport({
      clusterId: cluster.clusterId,
      nodeId: cluster.nodeId,
      listen: cluster.listen,
      peers: cluster.peers,
      log: (line) => process.stderr.write(`${line}\n`),
      services: [
        sequencerService(async (request) => {
          if (request.clusterId !== cluster.clusterId || !Object.hasOwn(cluster.peers, request.from)) {
            return { position: 0, code: SqlState.configFileError, message: `forward from unknown node "${request.from}" of cluster "${request.clusterId}" refused`, leader: '' };
          }
          // Served by the same gRPC server as Raft, which starts only once this.raft is set.
          const sequencer = this.raft?.sequencer;
          if (sequencer === undefined) return { position: 0, code: '40001', message: 'not started', leader: '' };
          const r = await sequencer.handleForward(request.entry);
          return { position: r.position, code: 'code' in r ? r.code : '', message: 'message' in r ? r.message : '', leader: sequencer.status().leader };
        }),
      ],
    });
    const raftSequencer = new RaftSequencer({
      ...sequencerOptions,
      nodeId: cluster.nodeId,
      peers: [...new Set([cluster.nodeId, ...Object.keys(cluster.peers)])].sort(),
      storage,
      transport,
      log: this.log,
      ...(cluster.submitTimeoutMs === undefined ? {} : { submitTimeoutMs: cluster.submitTimeoutMs }),
      raft: {
        ...(cluster.tickMs === undefined ? {} : { tickMs: cluster.tickMs }),
        ...(cluster.electionTicks === undefined ? {} : { electionTicks: cluster.electionTicks }),
      },
      forward: async (leader, entry) => {
        const address = cluster.peers[leader];
        if (address === undefined) return { position: 0, code: '40001', message: `no address for leader ${leader}` };
        const r = await forwarder.forward(address, { clusterId: cluster.clusterId, from: cluster.nodeId, entry }, RaftSequencerDefaults.forwardCallTimeoutMs);
        return r.position > 0 ? { position: r.position } : { position: 0, code: r.code, message: r.message };
      },
    });
    this.sequencer = raftSequencer;
    this.raft = { sequencer: raftSequencer, transport, forwarder, options: cluster };
  }


  /** Opens a cluster member (options.cluster required) and starts Raft; it serves once a leader is elected. */
  static async openCluster(options: NodeOptions): Promise<OrdoNode> {
    assert(options.cluster !== undefined, 'openCluster needs cluster options');
    const node = OrdoNode.open(options);
    try {
      await node.raft?.sequencer.start();
    } catch (err) {
      await node.close();
      throw err;
    }
    return node;
  }

  /** Raft's view of this node; undefined for a single node. */
  clusterStatus(): ClusterStatus | undefined {
    if (this.raft === undefined) return undefined;
    const s: RaftDriverStatus = this.raft.sequencer.status();
    return {
      nodeId: this.raft.options.nodeId,
      clusterId: this.raft.options.clusterId,
      role: s.role,
      term: s.term,
      leader: s.leader,
      commit: s.commit,
      applied: this.store.appliedPosition,
      raftPort: this.raft.transport.port,
    };
  }

  /** Opens (creating if needed) the data directory, recovers from the log, and starts sequencing. */
  static open(options: NodeOptions): OrdoNode {
    const lock = lockDataDir(options.dataDir);
    let env: RootDatabase | undefined;
    try {
      env = openEnvironment(options.dataDir);
      return new OrdoNode(options, lock, env);
    } catch (err) {
      void env?.close();
      lock.release();
      throw err;
    }
  }

  /** Applies whatever the log holds beyond the store's applied position: the crash recovery path. */
  private recover(): void {
    const from = this.store.appliedPosition + 1;
    const to = this.log.lastPosition;
    if (from > to) return;
    // Verify the whole tail before applying any of it: a corrupt record stops the node with its state
    // exactly as it was, rather than after applying the good records in front of it.
    for (const entry of this.log.readRange(from, to)) void entry;
    for (const entry of this.log.readRange(from, to)) this.scheduler.applyEntry(entry);
    assert(this.store.appliedPosition === to, 'recovery applied the whole log');
  }

  get appliedPosition(): number {
    return this.store.appliedPosition;
  }

  get lastLogPosition(): number {
    return this.log.lastPosition;
  }

  get checksum(): string {
    return this.store.checksum;
  }

  get partitionStore(): PartitionStore {
    return this.store;
  }

  get inputLog(): InputLog {
    return this.log;
  }

  /**
   * Sequences a transaction and resolves with its outcome once it has executed (an aborted outcome is
   * a result, not a rejection). Rejects when the transaction cannot be sequenced: an invalid program,
   * a txnId already in flight, backpressure, shutdown.
   */
  submit(txn: TxnRequest): Promise<TxnResult> {
    try {
      validateProgram(txn.program, txn.params.length);
      validateParams(txn.params);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.awaitOutcome(txn.txnId, () => this.sequencer.submit(txn));
  }

  /**
   * Registers `txnId` as waiting for its outcome, then sequences it; the scheduler's outcome settles
   * it (see deliver), and so does a failure to sequence it.
   */
  private awaitOutcome(txnId: string, sequence: () => Promise<number>): Promise<TxnResult> {
    if (this.pending.has(txnId)) {
      return Promise.reject(new OrdoError(SqlState.invalidParameterValue, `transaction ${txnId} is already in flight`));
    }
    return new Promise<TxnResult>((resolve, reject) => {
      this.pending.set(txnId, { resolve, reject });
      sequence().catch((err: unknown) => {
        const waiter = this.pending.get(txnId);
        this.pending.delete(txnId);
        waiter?.reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
  }

  /**
   * Appends a DDL control entry; resolves with its applied outcome (an aborted outcome such as 42P07
   * is a result, not a rejection), like `submit`.
   */
  submitDdl(control: Extract<ControlEntry, { kind: 'createTable' | 'dropTable' | 'addPrimaryKey' }>): Promise<TxnResult> {
    // A default the log codec cannot decode would fail the log append, and with it the sequencer.
    if (control.kind === 'createTable') {
      for (const col of control.table.columns) {
        if (col.default?.kind !== 'value') continue;
        let ok: boolean;
        try {
          ok = /^(?:[0-9a-f]{2})+$/.test(col.default.tupleHex) && decodeTuple(Buffer.from(col.default.tupleHex, 'hex')).length === 1;
        } catch {
          ok = false;
        }
        if (!ok) return Promise.reject(new OrdoError(SqlState.invalidParameterValue, `column ${col.name}: the default is not one encoded value`));
      }
    }
    return this.awaitOutcome(control.txnId, () => this.sequencer.submitControl(control));
  }

  /** The catalog as of the applied position. */
  catalog(): Catalog {
    return (this.store.catalog() as Catalog | undefined) ?? EMPTY_CATALOG;
  }

  /** Changes whenever an applied DDL entry changed the catalog; cheap to read. */
  get catalogVersion(): number {
    return this.store.catalogVersion();
  }

  /** Appends a control entry; resolves with its position once it has been applied. */
  submitControl(control: ControlEntry): Promise<number> {
    return this.sequencer.submitControl(control);
  }

  private deliver(executed: readonly ExecutedTxn[]): void {
    for (const e of executed) {
      const waiter = this.pending.get(e.txnId);
      if (waiter === undefined) continue; // submitted before a restart: nobody is waiting
      this.pending.delete(e.txnId);
      waiter.resolve({ ...e.outcome, txnId: e.txnId, position: e.position });
    }
  }

  /** Sequences and applies what was submitted, then closes the environment and unlocks the directory. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.sequencer.close();
        this.raft?.forwarder.close();
        await this.env.close();
      } finally {
        this.lock.release();
      }
    })();
    return this.closing;
  }
}

export function openNode(options: NodeOptions): OrdoNode {
  return OrdoNode.open(options);
}


/** Opens a member of a Raft-replicated cluster (options.cluster) and starts Raft. */
export function openClusterNode(options: NodeOptions & { readonly cluster: ClusterOptions }): Promise<OrdoNode> {
  return OrdoNode.openCluster(options);
}
