// A hand-driven cluster for the Raft core's unit tests, in the manner of etcd's raft test network:
// the test decides which messages are delivered, dropped or held, and when nodes tick.

import { seededRandom } from '../src/util/index.js';
import { MemoryStorage, RaftNode, type Entry, type Message, type NodeId, type RaftNodeOptions, type ReadState } from '../src/sequencer/raft/index.js';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

export interface TestNode {
  raft: RaftNode;
  readonly storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
}

type NodeOptions = Partial<Omit<RaftNodeOptions, 'id' | 'storage' | 'random'>>;

export class Cluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages the last flush did not deliver because a filter dropped them. */
  dropped: Message[] = [];
  /** Returns true to drop a message. */
  drop: (m: Message) => boolean = () => false;
  private readonly options: NodeOptions;

  constructor(voters: readonly NodeId[], options: NodeOptions = {}, extra: readonly NodeId[] = []) {
    this.options = options;
    let seed = 1;
    for (const id of voters) this.add(id, voters, seed++);
    // Nodes outside the initial configuration start empty, as a joining node would.
    for (const id of extra) this.add(id, [], seed++);
  }

  private add(id: NodeId, peers: readonly NodeId[], seed: number): void {
    const storage = new MemoryStorage();
    this.nodes.set(id, { raft: new RaftNode({ ...this.options, id, peers, storage, random: seededRandom(seed) }), storage, applied: [], readStates: [] });
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  raft(id: NodeId): RaftNode {
    return this.node(id).raft;
  }

  /** Handles a node's Ready as a driver would and returns the messages it sends. */
  ready(id: NodeId): Message[] {
    const n = this.node(id);
    const out: Message[] = [];
    for (let i = 0; i < 100 && n.raft.hasReady(); i++) {
      const rd = n.raft.ready();
      n.storage.append(rd.entries);
      if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
      out.push(...rd.messages);
      n.applied.push(...rd.committedEntries);
      n.readStates.push(...rd.readStates);
      n.raft.advance(rd);
    }
    return out;
  }

  /** Collects every node's outgoing messages without delivering them. */
  collect(): Message[] {
    const out: Message[] = [];
    for (const id of this.nodes.keys()) out.push(...this.ready(id));
    return out;
  }

  /** Delivers messages (and everything they cause) until the network is quiet. */
  flush(initial: Message[] = []): void {
    let queue = [...initial, ...this.collect()];
    for (let round = 0; round < 1000 && queue.length > 0; round++) {
      for (const m of queue) {
        if (this.drop(m)) {
          this.dropped.push(m);
          continue;
        }
        this.nodes.get(m.to)?.raft.step(m);
      }
      queue = this.collect();
    }
  }

  isolate(id: NodeId): void {
    this.drop = (m) => m.from === id || m.to === id;
  }

  heal(): void {
    this.drop = () => false;
  }

  tick(id: NodeId, times: number): void {
    for (let i = 0; i < times; i++) this.raft(id).tick();
  }

  /** Ticks every node, flushing after each tick. */
  tickAll(times: number): void {
    for (let i = 0; i < times; i++) {
      for (const n of this.nodes.values()) n.raft.tick();
      this.flush();
    }
  }

  elect(id: NodeId): void {
    this.raft(id).campaign();
    this.flush();
  }

  /** Rebuilds a node from its storage, as after a crash. */
  restart(id: NodeId, peers: readonly NodeId[], seed = 99): RaftNode {
    const n = this.node(id);
    n.raft = new RaftNode({ ...this.options, id, peers, storage: n.storage, random: seededRandom(seed) });
    n.applied = [];
    return n.raft;
  }

  appliedData(id: NodeId): string[] {
    return this.node(id)
      .applied.filter((e) => e.data.length > 0 && e.type === 'normal')
      .map((e) => dec(e.data));
  }
}
