// One embedded OrdoDB node: the input log, the sequencer, the scheduler and the store on one LMDB
// environment. Tests, benchmarks and the SQL layer use it through `openNode`.

import type { RootDatabase } from 'lmdb';
import { validateParams, validateProgram, type TxnOutcome } from '../executor/index.js';
import { PartitionStore, decodeTuple } from '../partitions/index.js';
import { ForwardClient, GrpcTransport, sequencerService } from '../rpc/index.js';
import { Scheduler, TxnDedupDefaults, type ExecutedTxn } from '../scheduler/index.js';
import {
  ConfChangeType,
  LmdbRaftStorage,
  RaftDriverError,
  RaftDriverErrorReason,
  RefusalReason,
  type ConfChange,
  type RaftDriverStatus,
  type RefusalCounts,
} from '../sequencer/raft/index.js';
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
  type DdlControlEntry,
  type LogEntry,
  type LogSink,
  type Sequencer,
  type TxnRequest,
} from '../sequencer/index.js';
import { OrdoError, SqlState, assert } from '../util/index.js';
import { lockDataDir, openEnvironment, type DataDirLock } from './dataDir.js';
import { PeerBook, peerSettingName } from './peerBook.js';

/**
 * How a node whose data directory holds no Raft state enters a cluster: `bootstrap` founds a new one
 * whose voters are its peers; `join` starts with no membership and waits for the leader to add it
 * (`ordo cluster add-node`). Without either such a node refuses to start, so a member whose data
 * directory was wiped never comes back under its old id with a forgotten term and vote.
 */
export const ClusterInitialState = { bootstrap: 'bootstrap', join: 'join' } as const;
export type ClusterInitialState = (typeof ClusterInitialState)[keyof typeof ClusterInitialState];

/** Membership of a Raft-replicated node (every node holds the whole data set and executes the log). */
export interface ClusterOptions {
  readonly nodeId: string;
  readonly clusterId: string;
  /**
   * Node-to-node (Raft and forwarding) addresses of the members, this node's own included; when
   * bootstrapping, the founding voters. Members added or removed later are learned from the log.
   */
  readonly peers: Readonly<Record<string, string>>;
  /** What to do when the data directory holds no Raft state; ignored once it does. */
  readonly initialState?: ClusterInitialState;
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
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  /** Raft batches this node refused, by reason (unknown node, other cluster, …). */
  readonly refused: RefusalCounts;
}

/** Why an admin request (membership, leadership) was not carried out. */
export const AdminRefusal = {
  /** Only the leader does this; `leader` names the one this node knows of (empty if none). */
  notLeader: 'notLeader',
  /** Not now, maybe later: a change in progress, a learner still catching up, a leader just elected. */
  retry: 'retry',
  /** It cannot succeed as asked. */
  invalid: 'invalid',
} as const;
export type AdminRefusal = (typeof AdminRefusal)[keyof typeof AdminRefusal];

export class AdminError extends OrdoError {
  readonly refusal: AdminRefusal;
  readonly leader: string;
  constructor(refusal: AdminRefusal, message: string, leader = '') {
    super(refusal === AdminRefusal.invalid ? SqlState.invalidParameterValue : SqlState.serializationFailure, message);
    this.name = 'AdminError';
    this.refusal = refusal;
    this.leader = leader;
  }
}

export const AdminDefaults = {
  /** How long transferLeadership waits to see the new leader (the core gives up after an election timeout). */
  transferWaitMs: 3_000,
  transferPollMs: 20,
} as const;

/** Raft's refusals that may succeed if asked again later. */
const RETRY_REASONS: ReadonlySet<RaftDriverError['reason']> = new Set([
  RefusalReason.confChangePending,
  RefusalReason.leaderNotReady,
  RefusalReason.learnerNotCaughtUp,
  RefusalReason.transferInProgress,
  RefusalReason.tooManyUncommitted,
  RaftDriverErrorReason.dropped,
  RaftDriverErrorReason.timeout,
  RaftDriverErrorReason.stopped,
  RaftDriverErrorReason.tooManyPending,
]);

function adminErrorOf(err: unknown): Error {
  if (!(err instanceof RaftDriverError)) return err instanceof Error ? err : new Error(String(err));
  if (err.reason === RefusalReason.notLeader || err.reason === RefusalReason.noLeader) return new AdminError(AdminRefusal.notLeader, err.message, err.leader);
  return new AdminError(RETRY_REASONS.has(err.reason) ? AdminRefusal.retry : AdminRefusal.invalid, `${err.reason}: ${err.message}`, err.leader);
}

const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ADDRESS_PATTERN = /^[^\s:]+:\d{1,5}$/;

/** A small database of this node's own facts about its membership (not replicated). */
const MEMBERSHIP_DB = 'cluster_member';
const JOINED_KEY = 'joined';

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
  private readonly raft:
    | { readonly sequencer: RaftSequencer<readonly ExecutedTxn[]>; readonly transport: GrpcTransport; readonly forwarder: ForwardClient; readonly options: ClusterOptions; readonly peers: PeerBook }
    | undefined;
  private readonly pending = new Map<string, PendingTxn>();
  /** Executor-only benchmarks: nothing is logged, so nothing ever becomes durable. */
  private readonly volatileLog: boolean;
  private closing: Promise<void> | undefined;

  private constructor(options: NodeOptions, lock: DataDirLock, env: RootDatabase) {
    this.dataDir = options.dataDir;
    this.lock = lock;
    this.env = env;
    this.volatileLog = options.logEnabled === false;
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
      apply: (entry: LogEntry): readonly ExecutedTxn[] => this.scheduler.applyEntry(entry),
      // Outcomes are told only once the entry's LMDB transaction is on disk, never from inside it.
      onDurable: (executed: readonly ExecutedTxn[], entry: LogEntry) => {
        this.deliver(executed);
        if (entry.kind === 'control' && entry.control.kind === 'setSetting') this.raft?.peers.apply(entry.control.name, entry.control.value);
      },
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
    const joined = OrdoNode.enterCluster(env, storage, options.dataDir, cluster);
    const forwarder = new ForwardClient();
    const peers = new PeerBook(cluster.peers, this.store.settings(), (id, address) => {
      if (address === undefined) transport.removePeer(id);
      else transport.setPeer(id, address);
    });
    const transport = new GrpcTransport({
      clusterId: cluster.clusterId,
      nodeId: cluster.nodeId,
      listen: cluster.listen,
      peers: peers.entries(),
      log: (line) => process.stderr.write(`${line}\n`),
      services: [
        sequencerService(async (request) => {
          if (request.clusterId !== cluster.clusterId || !peers.knows(request.from)) {
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
      // A joining node learns its membership from the log; a founded one has it in its storage.
      peers: joined ? [] : foundingVoters(cluster),
      storage,
      transport,
      log: this.log,
      ...(cluster.submitTimeoutMs === undefined ? {} : { submitTimeoutMs: cluster.submitTimeoutMs }),
      raft: {
        ...(cluster.tickMs === undefined ? {} : { tickMs: cluster.tickMs }),
        ...(cluster.electionTicks === undefined ? {} : { electionTicks: cluster.electionTicks }),
      },
      forward: async (leader, entry) => {
        const address = peers.address(leader);
        if (address === undefined) return { position: 0, code: '40001', message: `no address for leader ${leader}` };
        const r = await forwarder.forward(address, { clusterId: cluster.clusterId, from: cluster.nodeId, entry }, RaftSequencerDefaults.forwardCallTimeoutMs);
        return r.position > 0 ? { position: r.position } : { position: 0, code: r.code, message: r.message };
      },
    });
    this.sequencer = raftSequencer;
    this.raft = { sequencer: raftSequencer, transport, forwarder, options: cluster, peers };
  }

  /**
   * Checks how this data directory belongs to the cluster, entering it first if it holds no Raft state
   * yet (see ClusterInitialState); returns whether the node joined a running cluster.
   */
  private static enterCluster(env: RootDatabase, storage: LmdbRaftStorage, dataDir: string, cluster: ClusterOptions): boolean {
    const membership = env.openDB<boolean, string>({ name: MEMBERSHIP_DB });
    if (membership.get(JOINED_KEY) === true) return true;
    const conf = storage.snapshotMeta().conf;
    const fresh = storage.lastIndex() === 0 && storage.hardState().term === 0 && conf.voters.length === 0 && conf.learners.length === 0;
    if (!fresh) return false;
    if (cluster.initialState === ClusterInitialState.bootstrap) {
      storage.bootstrap({ voters: foundingVoters(cluster), learners: [] });
      return false;
    }
    if (cluster.initialState === ClusterInitialState.join) {
      membership.putSync(JOINED_KEY, true);
      return true;
    }
    throw new OrdoError(
      SqlState.configFileError,
      `data directory ${dataDir} holds no Raft state for node "${cluster.nodeId}" of cluster "${cluster.clusterId}": refusing to start. ` +
        'Start it with --bootstrap to found a new cluster whose voters are --peers, or with --join to be added to a running one (ordo cluster add-node). ' +
        'A member whose data directory was lost must not come back under its old id (it would have forgotten its term and vote): remove it (ordo cluster remove-node) and add a new node.',
    );
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
      voters: s.conf.voters,
      learners: s.conf.learners,
      refused: this.raft.transport.stats().refused,
    };
  }

  /** The Raft parts of a cluster node, once it is known to lead; AdminError otherwise. */
  private leading(): NonNullable<OrdoNode['raft']> {
    const raft = this.raft;
    if (raft === undefined) throw new AdminError(AdminRefusal.invalid, 'this node is not a cluster member');
    if (!raft.sequencer.driver.isLeader) {
      const leader = raft.sequencer.status().leader;
      throw new AdminError(AdminRefusal.notLeader, `node ${raft.options.nodeId} is not the leader${leader === '' ? ' (none is known)' : `; ask ${leader}`}`, leader);
    }
    return raft;
  }

  private async changeMembership(change: ConfChange): Promise<number> {
    try {
      return (await this.leading().sequencer.driver.proposeConfChange(change)).index;
    } catch (err) {
      throw adminErrorOf(err);
    }
  }

  /**
   * Leader only: records `id`'s address in the log, then adds it as a learner (it receives the log but
   * does not vote); resolves with the position of the change once it is applied here.
   */
  async addLearner(id: string, address: string): Promise<number> {
    const raft = this.leading();
    if (!NODE_ID_PATTERN.test(id)) throw new AdminError(AdminRefusal.invalid, `"${id}" is not a node id (letters, digits, _ . -; at most 64)`);
    if (!ADDRESS_PATTERN.test(address)) throw new AdminError(AdminRefusal.invalid, `"${address}" is not HOST:PORT`);
    if (raft.peers.wasRemoved(id)) {
      throw new AdminError(AdminRefusal.invalid, `node id "${id}" was removed from this cluster and is never reused: add the node under a new id`);
    }
    const conf = raft.sequencer.status().conf;
    if (conf.voters.includes(id) || conf.learners.includes(id)) {
      // Asked again (an answer lost on the way): done already.
      if (raft.peers.address(id) === address) return raft.sequencer.status().commit;
      throw new AdminError(AdminRefusal.invalid, `node "${id}" is already a member, at ${raft.peers.address(id) ?? 'an unknown address'}`);
    }
    if (raft.peers.address(id) !== address) await this.submitControl({ kind: 'setSetting', name: peerSettingName(id), value: address });
    return this.changeMembership({ type: ConfChangeType.addLearner, nodeId: id });
  }

  /** Leader only: makes a learner that has caught up a voter (AdminRefusal.retry while it has not). */
  promoteLearner(id: string): Promise<number> {
    return this.changeMembership({ type: ConfChangeType.addVoter, nodeId: id });
  }

  /**
   * Leader only: removes a member (not itself: transfer leadership first), then records in the log that
   * its id is gone, so every node refuses its messages from then on; repeating it is harmless.
   */
  async removeMember(id: string): Promise<number> {
    const raft = this.leading();
    const conf = raft.sequencer.status().conf;
    let position = 0;
    if (conf.voters.includes(id) || conf.learners.includes(id)) position = await this.changeMembership({ type: ConfChangeType.removeNode, nodeId: id });
    else if (!raft.peers.knows(id) && !raft.peers.wasRemoved(id)) throw new AdminError(AdminRefusal.invalid, `node "${id}" is not a member`);
    if (!raft.peers.wasRemoved(id)) position = await this.submitControl({ kind: 'setSetting', name: peerSettingName(id), value: '' });
    return position;
  }

  /** Leader only: hands leadership to voter `to` and waits until this node follows it. */
  async transferLeadership(to: string): Promise<void> {
    const raft = this.leading();
    const driver = raft.sequencer.driver;
    const r = driver.transferLeadership(to);
    if (!r.ok) throw adminErrorOf(new RaftDriverError(r.reason, r.detail, driver.status().leader));
    const deadline = performance.now() + AdminDefaults.transferWaitMs;
    while (driver.status().leader !== to) {
      if (performance.now() > deadline) throw new AdminError(AdminRefusal.retry, `leadership did not move to "${to}" within ${AdminDefaults.transferWaitMs} ms`, driver.status().leader);
      await new Promise((resolve) => setTimeout(resolve, AdminDefaults.transferPollMs));
    }
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

  /**
   * The position a linearizable read must see: alone, the durable log's end (every acknowledged write
   * is at or below it); in a cluster, the leader's confirmed commit index (Raft's ReadIndex).
   */
  async readIndex(): Promise<number> {
    if (this.raft !== undefined) return this.raft.sequencer.readIndex();
    // The store may hold an entry whose commit is visible but whose flush is still in flight (the
    // writer thread commits, then flushes). A read must not see it: after a power failure it would be
    // gone. Wait until everything applied so far is durable — at most the flushes already under way.
    if (this.volatileLog) return this.store.appliedPosition;
    const applied = this.store.appliedPosition;
    if (applied > this.log.lastPosition) await this.log.whenDurable(applied);
    return this.log.lastPosition;
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
  submitDdl(control: DdlControlEntry): Promise<TxnResult> {
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
      const o = e.outcome;
      // Built field by field: an object spread per transaction showed in the profile.
      waiter.resolve(
        o.status === 'committed'
          ? { status: 'committed', rows: o.rows, writes: o.writes, txnId: e.txnId, position: e.position }
          : { status: 'aborted', code: o.code, message: o.message, txnId: e.txnId, position: e.position },
      );
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


/** The voters a bootstrapping node founds its cluster with: its peers and itself. */
function foundingVoters(cluster: ClusterOptions): string[] {
  return [...new Set([cluster.nodeId, ...Object.keys(cluster.peers)])].sort();
}

/** Opens a member of a Raft-replicated cluster (options.cluster) and starts Raft. */
export function openClusterNode(options: NodeOptions & { readonly cluster: ClusterOptions }): Promise<OrdoNode> {
  return OrdoNode.openCluster(options);
}
