// A deterministic simulator for the Raft core, in the manner of FoundationDB's simulator and
// TigerBeetle's VOPR: it plays the driver for 3 or 5 nodes over a seeded network that drops, delays,
// duplicates and reorders messages, partitions nodes (both ways or one way) and crashes and restarts
// them from what they persisted. Every source of non-determinism comes from the seed, so a failing
// seed replays exactly. Safety is checked after every step; liveness once the faults stop.
//
// Two fault modes exist because plain random faults almost never reach certain schedules:
// - clock skew: real nodes do not tick in lockstep. Each node's clock runs fast or slow by a per-seed
//   drift (it skips or doubles ticks), and now and then one node stalls for a long GC-style pause that
//   it does not notice (its tick count just stops). In lockstep, check-quorum behaves like a lease, so
//   a core that serves reads on that "lease" alone looked correct; with skew it is not.
// - figure 8 (Raft §5.4.2): in episodes of leader churn, a new leader's entries of its own term (its
//   no-op first) reach few or no followers for a while, older-term entries still flow, and the leader
//   is then usually crashed. That is the schedule in which counting replicas of an old-term entry
//   commits something that a later leader overwrites; without it the no-op travels in the same append
//   as the old entries and the window is tiny.
//
// The checks are incremental so that thousands of seeds run in CI: every persisted entry gets a chain
// hash over the whole log prefix it ends, which turns "the logs are identical up to here" into one
// number comparison.

import { seededRandom } from '../../util/index.js';
import { decodeConfChange } from './confChange.js';
import { MemoryStorage } from './memoryStorage.js';
import { RaftNode } from './raft.js';
import { ConfChangeType, EntryType, MessageType, Role, type ConfState, type Entry, type Message, type NodeId, type Ready } from './types.js';

export interface SimOptions {
  readonly seed: number;
  readonly nodes: 3 | 5;
  /** Ticks of the fault phase; the liveness phase follows. */
  readonly ticks: number;
  /** Bound on the liveness phase: a leader must commit a fresh entry on every live member within it. */
  readonly livenessTicks?: number;
  /** Adds a learner, promotes it and removes another voter during the fault phase. Default: every 4th seed. */
  readonly membership?: boolean;
  /**
   * A deliberately broken network for testing the checker: every vote rejection is turned into a grant
   * on the wire, which lets two candidates win one term and stale candidates win at all.
   */
  readonly byzantineVotes?: boolean;
  /**
   * Per-node clock drift (skipped and doubled ticks) and long GC-style pauses that buffer the node's
   * incoming messages. Default: every seed except every 4th (seed % 4 === 3), which keeps lockstep clocks.
   */
  readonly clockSkew?: boolean;
  /**
   * Biases the run toward Raft's figure-8 schedule: in episodes of leader churn, a fresh leader's
   * own-term entries (its no-op first) are withheld from its followers (mostly all of them) for a few
   * ticks while older entries replicate, and the leader is then usually crashed. The network splits the
   * append rather than altering it, so a correct core stays safe. Default: every 4th seed (seed % 4 === 1).
   */
  readonly figure8?: boolean;
  /** Keeps the last events and returns them with a failure (slower; does not change the run). */
  readonly trace?: boolean;
}

export interface SimStats {
  ticks: number;
  steps: number;
  messagesSent: number;
  messagesDelivered: number;
  messagesDropped: number;
  messagesDuplicated: number;
  crashes: number;
  partitions: number;
  leadersElected: number;
  transfers: number;
  proposalsAccepted: number;
  committedIndex: number;
  readsConfirmed: number;
  confChangesCommitted: number;
  livenessTicks: number;
  /** Node ticks lost to slow clocks and gained by fast ones (clock skew). */
  skippedTicks: number;
  doubledTicks: number;
  gcPauses: number;
  /** Fresh leaders whose own-term entries were withheld from some followers (figure-8 mode). */
  withholdings: number;
  /** Leaders crashed by figure-8 mode (to start a chain of short-lived leaders, or after a withholding). */
  leaderKills: number;
}

export interface SimResult {
  readonly ok: boolean;
  readonly seed: number;
  readonly nodes: 3 | 5;
  readonly violation?: string;
  readonly atTick?: number;
  /** One line that names the failure and the command that replays it. */
  readonly repro: string;
  readonly stats: SimStats;
  /** The configuration of the last committed membership change (the initial voters if none). */
  readonly finalConf: ConfState;
  readonly trace?: readonly string[];
}

export const SimDefaults = {
  electionTicks: 10,
  heartbeatTicks: 2,
  livenessTicks: 400,
  maxInflightAppends: 8,
  maxEntriesPerAppend: 8,
  /** The network holds at most this many messages; beyond it, new ones are dropped. */
  maxMessagesInFlight: 20_000,
  maxDelayTicks: 16,
  traceLength: 300,
  /** A node's clock runs up to this fraction fast or slow: it doubles or skips that share of ticks. */
  maxClockDrift: 0.3,
  /** GC-style pauses last this long; messages sent to the paused node wait in its socket buffer. */
  gcPauseMinTicks: 20,
  gcPauseMaxTicks: 150,
  /** A paused node's socket buffer holds this many messages; later ones are lost. */
  gcBacklogMessages: 500,
  /**
   * Figure-8 mode comes in episodes of rapid leader churn (a chain of short-lived leaders is what the
   * schedule needs), separated by ordinary weather. Rate per tick and length of an episode:
   */
  figure8EpisodeRate: 0.004,
  figure8EpisodeMinTicks: 200,
  figure8EpisodeMaxTicks: 600,
  /** A killed leader is back this soon: the schedule needs old leaders to return and compete. */
  leaderKillMaxDownTicks: 40,
  /** In an episode, per tick without a withholding: the chance that the current leader is crashed. */
  figure8RestartRate: 0.05,
  /** In an episode: the share of fresh leaders whose own-term entries are withheld, and for how long. */
  withholdRate: 0.9,
  withholdMinTicks: 5,
  withholdMaxTicks: 30,
  withholdFromAllRate: 0.9,
  /** In an episode: the share of withholding leaders crashed when it ends. */
  leaderKillRate: 0.85,
} as const;

/** Thrown inside the run to stop at the first violated property. */
class Violation extends Error {}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function mix(a: number, b: number): number {
  let h = Math.imul((a ^ b) >>> 0, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca77);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae3d);
  h ^= h >>> 16;
  return h >>> 0;
}

function bytesHash(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ (data[i] ?? 0), 0x01000193);
  return h >>> 0;
}

/** Identity of one entry: its term, index and payload. */
function entryId(e: Entry): number {
  return mix(mix(e.term, bytesHash(e.data)), e.index);
}

const LANE = 2 ** 20;
/** The chain hash of a log prefix ending in an entry with id `id`, from the chain of the prefix before it (52 bits). */
function chainNext(prev: number, id: number): number {
  const hi = mix(Math.floor(prev / LANE), id);
  const lo = mix((prev % LANE) ^ 0x5bd1e995, id ^ 0x27d4eb2d);
  return hi * LANE + (lo >>> 12);
}

const TERM_KEY_SPAN = 2 ** 21;
const indexTermKey = (index: number, term: number): number => index * TERM_KEY_SPAN + term;

interface SimNode {
  readonly id: NodeId;
  readonly index: number;
  /** Stable storage: survives crashes. */
  readonly storage: MemoryStorage;
  /** chain[i]: chain hash of the persisted log prefix up to i (chain[0] = 0). Derived from storage. */
  readonly chain: number[];
  readonly random: () => number;
  readonly bootstrapPeers: readonly NodeId[];
  /** Highest commit index of this node already compared with the global committed log. */
  checkedCommit: number;
  /** Volatile: undefined while crashed. */
  raft: RaftNode | undefined;
  appliedIndex: number;
  restartAtTick: number;
  /** A paused process (GC pause, SIGSTOP) keeps its memory but neither ticks nor receives until then. */
  pausedUntilTick: number;
  /**
   * During a GC-style pause the kernel still buffers the node's incoming messages: they are delivered
   * when it resumes (a plain pause loses them, as if connections timed out).
   */
  pauseBuffers: boolean;
  readonly backlog: Message[];
  /**
   * Clock drift: with this probability per tick the node's clock skips a tick (negative) or ticks
   * twice (positive). Fixed per node for the run, like a crystal's error.
   */
  readonly clockDrift: number;
  /** Its own stream, so the clock draws do not shift the network's and the load's. */
  readonly clockRandom: () => number;
  leaderTermChecked: number;
}

/** Figure-8 mode: the entries of the leader's term are withheld from these followers until the tick. */
interface Withholding {
  readonly leader: NodeId;
  readonly term: number;
  readonly from: ReadonlySet<NodeId>;
  readonly untilTick: number;
  readonly killLeader: boolean;
  /** The leader's commit index when the withholding began. */
  readonly commitAtStart: number;
}

interface PendingRead {
  readonly requiredIndex: number;
  readonly node: NodeId;
}

interface FaultRates {
  dropRate: number;
  duplicateRate: number;
  longDelayRate: number;
  partitionRate: number;
  crashRate: number;
  crashOnReadyRate: number;
  pauseRate: number;
  transferRate: number;
  proposeRate: number;
  readRate: number;
  gcPauseRate: number;
}

export function reproLine(options: SimOptions): string {
  const parts = [`ordo sim raft --seed ${options.seed} --nodes ${options.nodes} --ticks ${options.ticks}`];
  if (options.livenessTicks !== undefined) parts.push(`--liveness-ticks ${options.livenessTicks}`);
  if (options.membership !== undefined) parts.push(options.membership ? '--membership' : '--no-membership');
  if (options.byzantineVotes === true) parts.push('--byzantine-votes');
  if (options.clockSkew !== undefined) parts.push(options.clockSkew ? '--clock-skew' : '--no-clock-skew');
  if (options.figure8 !== undefined) parts.push(options.figure8 ? '--figure8' : '--no-figure8');
  return parts.join(' ');
}

export function runSimulation(options: SimOptions): SimResult {
  return new Simulation(options).run();
}

class Simulation {
  private readonly rng: () => number;
  private readonly nodes: SimNode[] = [];
  private readonly byId = new Map<NodeId, SimNode>();
  private readonly initialVoters: NodeId[];
  private readonly membership: boolean;
  private readonly livenessTicks: number;
  private readonly rates: FaultRates;
  private readonly clockSkew: boolean;
  private readonly figure8: boolean;
  private withholding: Withholding | undefined;
  private figure8UntilTick = -1;
  private now = 0;
  private faultsOn = true;

  /** Network: one bucket of messages per delivery tick, a ring over maxDelayTicks + 1 ticks. */
  private readonly buckets: Message[][] = [];
  private messagesInFlight = 0;
  /** blocked[from * n + to]: messages on that link are lost. */
  private blocked: boolean[];
  private partitionHealAtTick = -1;

  // ---- the checker's memory ----
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly chainAtIndexTerm = new Map<number, number>();
  /** The committed log as far as any node knows it: chain hash and the term it was first seen committed in. */
  private readonly committedChain: number[] = [0];
  private readonly committedSeenInTerm: number[] = [0];
  /** Every entry any node applied, by index. */
  private readonly appliedIds: number[] = [0];
  private committedConf: ConfState;
  private readonly pendingReads = new Map<string, PendingRead>();

  private proposalCounter = 0;
  private readCounter = 0;
  private finalData = '';
  private readonly stats: SimStats = {
    ticks: 0,
    steps: 0,
    messagesSent: 0,
    messagesDelivered: 0,
    messagesDropped: 0,
    messagesDuplicated: 0,
    crashes: 0,
    partitions: 0,
    leadersElected: 0,
    transfers: 0,
    proposalsAccepted: 0,
    committedIndex: 0,
    readsConfirmed: 0,
    confChangesCommitted: 0,
    livenessTicks: 0,
    skippedTicks: 0,
    doubledTicks: 0,
    gcPauses: 0,
    withholdings: 0,
    leaderKills: 0,
  };
  private readonly traceLog: string[] = [];
  private removalVictim: NodeId = '';
  /** Where the liveness phase's fresh entry was first applied; 0 until then. */
  private finalAppliedAt = 0;

  constructor(private readonly options: SimOptions) {
    this.rng = seededRandom(options.seed);
    this.membership = options.membership ?? options.seed % 4 === 0;
    this.clockSkew = options.clockSkew ?? options.seed % 4 !== 3;
    this.figure8 = options.figure8 ?? options.seed % 4 === 1;
    this.livenessTicks = options.livenessTicks ?? SimDefaults.livenessTicks;
    const r = this.rng;
    // Each seed draws its own weather, from calm to stormy.
    this.rates = {
      dropRate: r() * 0.2,
      duplicateRate: r() * 0.05,
      longDelayRate: r() * 0.05,
      partitionRate: r() * 0.01,
      crashRate: r() * 0.004,
      crashOnReadyRate: r() * 0.0005,
      pauseRate: r() * 0.003,
      transferRate: r() * 0.003,
      proposeRate: 0.1 + r() * 0.5,
      readRate: r() * 0.1,
      gcPauseRate: r() * 0.005,
    };
    // How far this seed's clocks stray: from near lockstep to ±30%.
    const driftBound = r() * SimDefaults.maxClockDrift;
    const count = options.nodes + (this.membership ? 1 : 0);
    this.initialVoters = [];
    for (let i = 0; i < options.nodes; i++) this.initialVoters.push(`n${i + 1}`);
    this.committedConf = { voters: this.initialVoters, learners: [] };
    for (let i = 0; i < count; i++) {
      const id = `n${i + 1}`;
      const drift = (2 * r() - 1) * driftBound;
      const node: SimNode = {
        id,
        index: i,
        storage: new MemoryStorage(),
        chain: [0],
        random: seededRandom(mix(options.seed >>> 0, i + 1)),
        // The extra node joins later: it starts with no configuration and learns it from the log.
        bootstrapPeers: i < options.nodes ? this.initialVoters : [],
        checkedCommit: 0,
        raft: undefined,
        appliedIndex: 0,
        restartAtTick: -1,
        pausedUntilTick: -1,
        pauseBuffers: false,
        backlog: [],
        clockDrift: this.clockSkew ? drift : 0,
        clockRandom: seededRandom(mix(options.seed >>> 0, 0x10000 + i)),
        leaderTermChecked: 0,
      };
      this.nodes.push(node);
      this.byId.set(id, node);
      this.start(node);
    }
    this.blocked = new Array<boolean>(count * count).fill(false);
    for (let i = 0; i <= SimDefaults.maxDelayTicks; i++) this.buckets.push([]);
  }

  run(): SimResult {
    try {
      for (; this.now < this.options.ticks; this.now++) this.faultTick();
      this.endFaults();
      this.livenessPhase();
      this.finalChecks();
    } catch (err) {
      const message = err instanceof Violation ? err.message : `core invariant: ${err instanceof Error ? err.message : String(err)}`;
      return this.result(message);
    }
    return this.result(undefined);
  }

  private result(violation: string | undefined): SimResult {
    this.stats.ticks = this.now;
    this.stats.committedIndex = this.committedChain.length - 1;
    const head = `raft sim seed=${this.options.seed} nodes=${this.options.nodes} ticks=${this.options.ticks}`;
    const repro =
      violation === undefined ? `${head} ok` : `${head} FAILED at tick ${this.now}: ${violation} | replay: ${reproLine(this.options)}`;
    return {
      ok: violation === undefined,
      seed: this.options.seed,
      nodes: this.options.nodes,
      ...(violation === undefined ? {} : { violation, atTick: this.now }),
      repro,
      stats: this.stats,
      finalConf: this.committedConf,
      ...(this.options.trace === true ? { trace: this.traceLog.slice() } : {}),
    };
  }

  private trace(line: () => string): void {
    if (this.options.trace !== true) return;
    this.traceLog.push(`t${this.now} ${line()}`);
    if (this.traceLog.length > SimDefaults.traceLength) this.traceLog.shift();
  }

  private fail(message: string): never {
    throw new Violation(message);
  }

  // ---- phases ----

  private faultTick(): void {
    const r = this.rng;
    const rates = this.rates;
    if (this.partitionHealAtTick === this.now) this.healPartition();
    if (this.partitionHealAtTick < 0 && r() < rates.partitionRate) this.makePartition();
    for (const node of this.nodes) {
      if (node.raft === undefined && node.restartAtTick === this.now) this.start(node);
    }
    if (r() < rates.crashRate) {
      const victim = this.nodes[Math.floor(r() * this.nodes.length)];
      if (victim?.raft !== undefined) this.crash(victim, 5 + Math.floor(r() * 100));
    }
    if (r() < rates.pauseRate) {
      const victim = this.nodes[Math.floor(r() * this.nodes.length)];
      if (victim?.raft !== undefined && victim.pausedUntilTick < this.now) {
        victim.pausedUntilTick = this.now + 5 + Math.floor(r() * 40);
        victim.pauseBuffers = false;
        this.trace(() => `${victim.id} paused until t${victim.pausedUntilTick}`);
      }
    }
    if (this.clockSkew && r() < rates.gcPauseRate) {
      // A long stop-the-world pause: the node's tick count just stops, so it does not notice. Half
      // of them hit the leader, the busiest process and the one whose pause matters to reads.
      const victim = r() < 0.5 ? this.someLeader() : this.nodes[Math.floor(r() * this.nodes.length)];
      if (victim?.raft !== undefined && victim.pausedUntilTick < this.now) {
        const span = SimDefaults.gcPauseMaxTicks - SimDefaults.gcPauseMinTicks;
        victim.pausedUntilTick = this.now + SimDefaults.gcPauseMinTicks + Math.floor(r() * span);
        victim.pauseBuffers = true;
        this.stats.gcPauses++;
        this.trace(() => `${victim.id} GC pause until t${victim.pausedUntilTick}`);
      }
    }
    if (this.figure8 && this.figure8UntilTick < this.now && r() < SimDefaults.figure8EpisodeRate) {
      const span = SimDefaults.figure8EpisodeMaxTicks - SimDefaults.figure8EpisodeMinTicks;
      this.figure8UntilTick = this.now + SimDefaults.figure8EpisodeMinTicks + Math.floor(r() * span);
      this.trace(() => `figure-8 episode until t${this.figure8UntilTick}`);
    }
    if (this.figure8UntilTick >= this.now && this.withholding === undefined && r() < SimDefaults.figure8RestartRate) {
      // The episode starts the chain of short-lived leaders by taking down the current one, and
      // restarts it when a leader escaped (it was not withheld, or not killed).
      const leader = this.someLeader();
      if (leader !== undefined) this.killLeader(leader);
    }
    const held = this.withholding;
    if (held !== undefined) {
      const leader = this.byId.get(held.leader);
      const leading = leader?.raft !== undefined && leader.raft.term === held.term && leader.raft.role === Role.leader;
      // The adversary strikes when the leader has just advanced its commit index while its own entries
      // were withheld (the moment after which an unsafe commit rule has committed an entry that a
      // later leader can overwrite), or when the withholding ends. Leadership then changes quickly:
      // figure 8 needs the leader gone before its entries spread.
      const committed = leading && leader.storage.hardState().commit > held.commitAtStart;
      if (committed || held.untilTick <= this.now || !leading) {
        this.withholding = undefined;
        if (held.killLeader && leading) this.killLeader(leader);
      }
    }
    if (r() < rates.transferRate) {
      const leader = this.someLeader();
      const voters = leader?.raft?.conf.voters ?? [];
      const to = voters[Math.floor(r() * voters.length)];
      if (leader?.raft !== undefined && to !== undefined) {
        const res = leader.raft.transferLeadership(to);
        if (res.ok) this.stats.transfers++;
        this.trace(() => `${leader.id} transfer to ${to}: ${res.ok ? 'ok' : res.reason}`);
        this.afterStep(leader);
      }
    }
    if (r() < rates.proposeRate) this.proposeClientEntry();
    if (r() < rates.readRate) this.requestRead();
    if (this.membership && this.now % 5 === 0 && this.now > this.options.ticks / 10) this.advanceMembership();
    this.tickAndDeliver();
  }

  private endFaults(): void {
    this.faultsOn = false;
    this.withholding = undefined;
    this.healPartition();
    for (const node of this.nodes) node.pausedUntilTick = -1;
    for (const node of this.nodes) if (node.raft === undefined) this.start(node);
    this.trace(() => 'faults stop');
  }

  private livenessPhase(): void {
    const start = this.now;
    this.finalData = `final-${this.options.seed}`;
    let lastProposalTick = -Infinity;
    for (; this.now < start + this.livenessTicks; this.now++) {
      this.tickAndDeliver();
      if (this.allMembersApplied()) {
        this.stats.livenessTicks = this.now - start;
        return;
      }
      // Re-propose now and then: a proposal accepted by a leader that then lost office may be gone.
      const leader = this.someLeader();
      if (leader?.raft !== undefined && this.now - lastProposalTick >= 3 * SimDefaults.electionTicks) {
        const res = leader.raft.propose(encoder.encode(this.finalData));
        if (res.ok) lastProposalTick = this.now;
        this.afterStep(leader);
      }
    }
    const leaders = this.nodes.filter((n) => n.raft?.role === Role.leader).map((n) => `${n.id}@${n.raft?.term ?? 0}`);
    this.fail(`liveness: no fresh proposal committed on every live member within ${this.livenessTicks} ticks after faults stopped (leaders: ${leaders.join(',') || 'none'})`);
  }

  private finalChecks(): void {
    const last = this.appliedIds.length - 1;
    for (const id of this.members()) {
      const node = this.byId.get(id);
      if (node?.raft === undefined) continue;
      if (node.appliedIndex < last) this.fail(`committed entries lost: ${id} applied ${node.appliedIndex} of ${last}`);
    }
  }

  private members(): NodeId[] {
    return [...this.committedConf.voters, ...this.committedConf.learners];
  }

  /**
   * The fresh entry of the liveness phase, and everything any node applied, is applied on every member
   * of the committed configuration. (Waiting for the fresh entry alone let a member that was one
   * heartbeat behind, e.g. on a new leader's no-op, fail the final check as "lost".)
   */
  private allMembersApplied(): boolean {
    if (this.finalAppliedAt === 0) return false;
    const last = this.appliedIds.length - 1;
    for (const id of this.members()) {
      const node = this.byId.get(id);
      if (node === undefined || node.appliedIndex < this.finalAppliedAt || node.appliedIndex < last) return false;
    }
    return true;
  }

  // ---- client load ----

  private someLeader(): SimNode | undefined {
    // The leader with the highest term: a deposed one may not know yet.
    let best: SimNode | undefined;
    for (const n of this.nodes) {
      if (n.raft?.role === Role.leader && (best?.raft === undefined || n.raft.term > best.raft.term)) best = n;
    }
    return best;
  }

  private proposeClientEntry(): void {
    // Mostly to a leader, sometimes to anyone (which must refuse unless it leads).
    const target = this.rng() < 0.9 ? this.someLeader() : this.nodes[Math.floor(this.rng() * this.nodes.length)];
    if (target?.raft === undefined) return;
    const data = `c${++this.proposalCounter}`;
    const res = target.raft.propose(encoder.encode(data));
    if (res.ok) this.stats.proposalsAccepted++;
    this.trace(() => `${target.id} propose ${data}: ${res.ok ? `at ${res.index}` : res.reason}`);
    this.afterStep(target);
  }

  private requestRead(): void {
    // Half the clients go straight to a node they believe leads; a client with a stale cache may pick
    // a deposed leader that does not know it yet, which is where an unconfirmed read goes wrong.
    const leaders = this.rng() < 0.5 ? this.nodes.filter((n) => n.raft?.role === Role.leader) : [];
    const pool = leaders.length > 0 ? leaders : this.nodes;
    const target = pool[Math.floor(this.rng() * pool.length)];
    if (target?.raft === undefined) return;
    const context = `r${++this.readCounter}`;
    const res = target.raft.readIndex(context);
    // Linearizability: the read point must cover everything known to be committed when the read began.
    if (res.ok) this.pendingReads.set(context, { requiredIndex: this.committedChain.length - 1, node: target.id });
    this.afterStep(target);
  }

  private advanceMembership(): void {
    const leader = this.someLeader();
    if (leader?.raft === undefined) return;
    const joiner = `n${this.options.nodes + 1}`;
    const conf = this.committedConf;
    let res;
    if (!conf.voters.includes(joiner) && !conf.learners.includes(joiner)) {
      if (this.removalVictim !== '') return;
      res = leader.raft.proposeConfChange({ type: ConfChangeType.addLearner, nodeId: joiner });
    } else if (conf.learners.includes(joiner)) {
      res = leader.raft.proposeConfChange({ type: ConfChangeType.addVoter, nodeId: joiner });
    } else if (this.removalVictim === '' || conf.voters.includes(this.removalVictim)) {
      if (this.removalVictim === '') {
        const candidates = this.initialVoters.filter((id) => id !== leader.id);
        this.removalVictim = candidates[Math.floor(this.rng() * candidates.length)] ?? '';
      }
      // The leader cannot remove itself: it hands over first.
      if (this.removalVictim === leader.id) {
        const other = conf.voters.find((v) => v !== leader.id) ?? '';
        res = leader.raft.transferLeadership(other);
      } else {
        res = leader.raft.proposeConfChange({ type: ConfChangeType.removeNode, nodeId: this.removalVictim });
      }
    } else {
      return;
    }
    this.trace(() => `${leader.id} membership step: ${res.ok ? 'ok' : `${res.reason} ${res.detail}`}`);
    this.afterStep(leader);
  }

  // ---- nodes ----

  private start(node: SimNode): void {
    node.raft = new RaftNode({
      id: node.id,
      peers: node.bootstrapPeers,
      storage: node.storage,
      random: node.random,
      electionTicks: SimDefaults.electionTicks,
      heartbeatTicks: SimDefaults.heartbeatTicks,
      maxInflightAppends: SimDefaults.maxInflightAppends,
      maxEntriesPerAppend: SimDefaults.maxEntriesPerAppend,
      applied: 0,
    });
    // The state machine is volatile: a restarted node re-applies the committed log from the start.
    node.appliedIndex = 0;
    node.restartAtTick = -1;
    node.leaderTermChecked = 0;
    this.trace(() => `${node.id} start term=${node.raft?.term ?? 0} last=${node.storage.lastIndex()}`);
  }

  private crash(node: SimNode, downTicks: number): void {
    node.raft = undefined;
    // A crashed process loses its socket buffers too.
    node.backlog.length = 0;
    node.restartAtTick = this.now + downTicks;
    this.stats.crashes++;
    this.trace(() => `${node.id} crash until t${node.restartAtTick}`);
  }

  // ---- network ----

  private makePartition(): void {
    const r = this.rng;
    const n = this.nodes.length;
    this.blocked.fill(false);
    if (r() < 0.5) {
      // Symmetric: a random side is cut off from the rest.
      const side = this.nodes.map(() => r() < 0.5);
      for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (side[a] !== side[b]) this.blocked[a * n + b] = true;
    } else {
      // One-way: some links lose messages in one direction only.
      const links = 1 + Math.floor(r() * n);
      for (let k = 0; k < links; k++) {
        const a = Math.floor(r() * n);
        const b = Math.floor(r() * n);
        if (a !== b) this.blocked[a * n + b] = true;
      }
    }
    this.partitionHealAtTick = this.now + 10 + Math.floor(r() * 200);
    this.stats.partitions++;
    this.trace(() => `partition until t${this.partitionHealAtTick}: ${this.blocked.map((b) => (b ? 1 : 0)).join('')}`);
  }

  private healPartition(): void {
    this.blocked.fill(false);
    this.partitionHealAtTick = -1;
  }

  private send(m: Message): void {
    this.stats.messagesSent++;
    if (this.options.byzantineVotes === true && m.reject && (m.type === MessageType.voteResp || m.type === MessageType.preVoteResp)) {
      m = { ...m, reject: false };
    }
    const held = this.withholding;
    if (held !== undefined && m.type === MessageType.app && m.from === held.leader && m.term === held.term && held.from.has(m.to)) {
      m = this.withhold(m);
    }
    const r = this.rng;
    if (this.faultsOn && r() < this.rates.dropRate) {
      this.stats.messagesDropped++;
      return;
    }
    const copies = this.faultsOn && r() < this.rates.duplicateRate ? 2 : 1;
    if (copies === 2) this.stats.messagesDuplicated++;
    for (let c = 0; c < copies; c++) {
      if (this.messagesInFlight >= SimDefaults.maxMessagesInFlight) {
        this.stats.messagesDropped++;
        return;
      }
      let delay = 1 + Math.floor(r() * (this.faultsOn ? 3 : 2));
      if (this.faultsOn && r() < this.rates.longDelayRate) delay = 1 + Math.floor(r() * SimDefaults.maxDelayTicks);
      this.buckets[(this.now + delay) % this.buckets.length]?.push(m);
      this.messagesInFlight++;
    }
  }

  /**
   * Figure-8 mode: the append keeps only its entries of earlier terms (a prefix, since terms only grow
   * along a log). It is exactly the message the leader would send with a smaller batch limit, so a
   * correct core must stay safe; the withheld tail behaves like a lost message.
   */
  private withhold(m: Message): Message {
    let keep = 0;
    while (keep < m.entries.length && (m.entries[keep]?.term ?? m.term) < m.term) keep++;
    return keep === m.entries.length ? m : { ...m, entries: m.entries.slice(0, keep) };
  }

  private killLeader(leader: SimNode): void {
    this.stats.leaderKills++;
    this.crash(leader, 5 + Math.floor(this.rng() * (SimDefaults.leaderKillMaxDownTicks - 5)));
  }

  /** Figure-8 mode: called once per fresh leader. */
  private maybeWithhold(leader: SimNode, term: number): void {
    if (this.figure8UntilTick < this.now || !this.faultsOn || this.withholding !== undefined) return;
    const r = this.rng;
    if (r() >= SimDefaults.withholdRate) return;
    const from = new Set<NodeId>();
    // Mostly from every follower: figure 8 needs a leader whose own-term entries live on it alone
    // (they later overwrite), and one that ships only older entries (those get wrongly committed).
    // Otherwise a random subset, for variety.
    const all = r() < SimDefaults.withholdFromAllRate;
    for (const n of this.nodes) if (n !== leader && (all || r() < 0.5)) from.add(n.id);
    const span = SimDefaults.withholdMaxTicks - SimDefaults.withholdMinTicks;
    const untilTick = this.now + SimDefaults.withholdMinTicks + Math.floor(r() * span);
    const killLeader = r() < SimDefaults.leaderKillRate;
    this.withholding = { leader: leader.id, term, from, untilTick, killLeader, commitAtStart: leader.storage.hardState().commit };
    this.stats.withholdings++;
    this.trace(() => `${leader.id} term ${term} entries withheld from ${[...from].join(',')} until t${untilTick}${killLeader ? ', then crash' : ''}`);
  }

  /** How many times the node's clock ticks in this tick of the simulation: 0, 1 or 2. */
  private clockTicks(node: SimNode): number {
    const drift = node.clockDrift;
    if (drift === 0) return 1;
    if (node.clockRandom() >= Math.abs(drift)) return 1;
    if (drift < 0) {
      this.stats.skippedTicks++;
      return 0;
    }
    this.stats.doubledTicks++;
    return 2;
  }

  private tickAndDeliver(): void {
    for (const node of this.nodes) {
      if (node.raft === undefined || node.pausedUntilTick >= this.now) continue;
      const ticks = this.clockTicks(node);
      for (let k = 0; k < ticks; k++) {
        node.raft?.tick();
        this.afterStep(node);
      }
    }
    const slot = this.now % this.buckets.length;
    const due = this.buckets[slot] ?? [];
    this.buckets[slot] = [];
    this.messagesInFlight -= due.length;
    // A node back from a GC pause reads what piled up in its socket buffer, mixed with fresh arrivals.
    for (const node of this.nodes) {
      if (node.backlog.length === 0 || node.pausedUntilTick >= this.now) continue;
      for (const m of node.backlog) due.push(m);
      node.backlog.length = 0;
    }
    // Reorder within the tick (Fisher–Yates from the seed).
    for (let i = due.length - 1; i > 0; i--) {
      const j = Math.floor(this.rng() * (i + 1));
      const tmp = due[i] as Message;
      due[i] = due[j] as Message;
      due[j] = tmp;
    }
    const n = this.nodes.length;
    for (const m of due) {
      const from = this.byId.get(m.from);
      const to = this.byId.get(m.to);
      if (from === undefined || to?.raft === undefined || this.blocked[from.index * n + to.index] === true) {
        this.stats.messagesDropped++;
        continue;
      }
      if (to.pausedUntilTick >= this.now) {
        if (to.pauseBuffers && to.backlog.length < SimDefaults.gcBacklogMessages) to.backlog.push(m);
        else this.stats.messagesDropped++;
        continue;
      }
      this.stats.messagesDelivered++;
      to.raft.step(m);
      this.afterStep(to);
    }
  }

  // ---- the driver, and the checks on every step ----

  private afterStep(node: SimNode): void {
    this.stats.steps++;
    for (let round = 0; round < 16; round++) {
      const raft = node.raft;
      if (raft === undefined || !raft.hasReady()) break;
      if (this.faultsOn && this.rng() < this.rates.crashOnReadyRate) {
        // Crash before the Ready is persisted: all of it is lost.
        this.crash(node, 5 + Math.floor(this.rng() * 50));
        return;
      }
      this.handleReady(node, raft, raft.ready());
    }
    this.checkLeader(node);
  }

  private handleReady(node: SimNode, raft: RaftNode, rd: Ready): void {
    // 1. persist entries and hard state
    const first = rd.entries[0];
    if (first !== undefined) {
      node.storage.append(rd.entries);
      node.chain.length = first.index;
      for (const e of rd.entries) {
        const c = chainNext(node.chain[e.index - 1] ?? 0, entryId(e));
        node.chain.push(c);
        if (e.term >= TERM_KEY_SPAN) this.fail(`term ${e.term} exceeds the checker's range`);
        const key = indexTermKey(e.index, e.term);
        const seen = this.chainAtIndexTerm.get(key);
        if (seen === undefined) this.chainAtIndexTerm.set(key, c);
        else if (seen !== c) this.fail(`log matching: ${node.id} has entry (${e.index}, term ${e.term}) with a different log before it`);
      }
    }
    if (rd.hardState !== undefined) {
      const prev = node.storage.hardState();
      if (rd.hardState.term < prev.term) this.fail(`${node.id} persisted term ${rd.hardState.term} after ${prev.term}`);
      if (rd.hardState.term === prev.term && prev.vote !== '' && rd.hardState.vote !== prev.vote) {
        this.fail(`${node.id} changed its vote in term ${prev.term} from ${prev.vote} to ${rd.hardState.vote}`);
      }
      if (rd.hardState.commit < prev.commit) this.fail(`${node.id} persisted commit ${rd.hardState.commit} after ${prev.commit}`);
      node.storage.setHardState(rd.hardState);
      this.checkCommitted(node, rd.hardState.commit, raft.term);
    }
    // A fresh leader is noticed before its first messages leave, so that figure-8 mode can withhold
    // its no-op too (the no-op leaves in the very Ready that makes it leader).
    this.checkLeader(node);
    // 2. send
    for (const m of rd.messages) this.send(m);
    // 3. apply
    for (const e of rd.committedEntries) this.apply(node, e);
    for (const rs of rd.readStates) {
      const pending = this.pendingReads.get(rs.context);
      if (pending === undefined) continue;
      this.pendingReads.delete(rs.context);
      if (rs.index < pending.requiredIndex) {
        this.fail(`linearizable read: ${node.id} got read index ${rs.index} for ${rs.context}, but ${pending.requiredIndex} was committed before it was asked`);
      }
      this.stats.readsConfirmed++;
    }
    raft.advance(rd);
  }

  /** Committed entries never change: every node's committed prefix must equal the global one. */
  private checkCommitted(node: SimNode, commit: number, term: number): void {
    for (let i = node.checkedCommit + 1; i <= commit; i++) {
      const c = node.chain[i];
      if (c === undefined) this.fail(`${node.id} commits ${commit} but persisted only ${node.chain.length - 1}`);
      const known = this.committedChain[i];
      if (known === undefined) {
        this.committedChain.push(c);
        this.committedSeenInTerm.push(term);
      } else if (known !== c) {
        this.fail(`committed entry changed: ${node.id} committed a different log up to ${i}`);
      }
    }
    node.checkedCommit = Math.max(node.checkedCommit, commit);
  }

  private apply(node: SimNode, e: Entry): void {
    if (e.index !== node.appliedIndex + 1) this.fail(`${node.id} applied ${e.index} after ${node.appliedIndex}`);
    node.appliedIndex = e.index;
    const id = entryId(e);
    const known = this.appliedIds[e.index];
    if (known === undefined) {
      this.appliedIds.push(id);
      if (e.type === EntryType.confChange) {
        this.committedConf = decodeConfChange(e.data).conf;
        this.stats.confChangesCommitted++;
        this.trace(() => `conf committed at ${e.index}: voters=${this.committedConf.voters.join(',')} learners=${this.committedConf.learners.join(',')}`);
      }
      if (this.finalData !== '' && e.data.length === this.finalData.length && decoder.decode(e.data) === this.finalData && this.finalAppliedAt === 0) {
        this.finalAppliedAt = e.index;
      }
    } else if (known !== id) {
      this.fail(`state machine safety: ${node.id} applied a different entry at ${e.index}`);
    }
  }

  private checkLeader(node: SimNode): void {
    const raft = node.raft;
    if (raft?.role !== Role.leader) return;
    const term = raft.term;
    const holder = this.leaderOfTerm.get(term);
    if (holder === undefined) {
      this.leaderOfTerm.set(term, node.id);
      this.stats.leadersElected++;
      this.trace(() => `${node.id} leads term ${term} last=${raft.lastIndex}`);
      this.maybeWithhold(node, term);
    } else if (holder !== node.id) {
      this.fail(`election safety: ${holder} and ${node.id} both lead term ${term}`);
    }
    if (node.leaderTermChecked === term) return;
    node.leaderTermChecked = term;
    // Leader completeness: everything committed in an earlier term is in this leader's log.
    let i = this.committedChain.length - 1;
    while (i > 0 && (this.committedSeenInTerm[i] ?? 0) >= term) i--;
    if (i === 0) return;
    if (raft.lastIndex < i || node.chain.length <= i) this.fail(`leader completeness: ${node.id} leads term ${term} without committed entry ${i}`);
    if (node.chain[i] !== this.committedChain[i]) this.fail(`leader completeness: ${node.id} leads term ${term} with a log that differs from the committed one at ${i}`);
  }
}
