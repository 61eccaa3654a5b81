// An in-process network of RaftTransports for tests: same interface and admission checks as gRPC,
// delivery on a later macrotask (never re-entrant into the sender), and switches to cut a node off.

import { checkBatch, emptyStats, type Message, type NodeId, type RaftTransport, type TransportStats } from '../sequencer/raft/index.js';

export interface InProcessNetworkOptions {
  readonly clusterId: string;
  /** Messages queued per recipient before the oldest are dropped. */
  readonly maxQueuedPerNode?: number;
}

export class InProcessNetwork {
  readonly clusterId: string;
  readonly maxQueuedPerNode: number;
  private readonly endpoints = new Map<NodeId, InProcessTransport>();
  /** Nodes whose traffic is dropped both ways. */
  private readonly isolated = new Set<NodeId>();

  constructor(options: InProcessNetworkOptions) {
    this.clusterId = options.clusterId;
    this.maxQueuedPerNode = options.maxQueuedPerNode ?? 4096;
  }

  /** A transport for `nodeId` that knows `peers` (ids). */
  transport(nodeId: NodeId, peers: readonly NodeId[], clusterId = this.clusterId): InProcessTransport {
    const t = new InProcessTransport(this, nodeId, peers, clusterId);
    this.endpoints.set(nodeId, t);
    return t;
  }

  isolate(id: NodeId): void {
    this.isolated.add(id);
  }
  heal(id: NodeId): void {
    this.isolated.delete(id);
  }

  /** @internal */
  deliver(from: InProcessTransport, to: NodeId, messages: readonly Message[]): boolean {
    const target = this.endpoints.get(to);
    if (target === undefined || this.isolated.has(to) || this.isolated.has(from.nodeId)) return false;
    target.enqueue({ clusterId: from.clusterId, from: from.nodeId, to, messages });
    return true;
  }

  /** @internal */
  detach(t: InProcessTransport): void {
    if (this.endpoints.get(t.nodeId) === t) this.endpoints.delete(t.nodeId);
  }
}

interface Batch {
  clusterId: string;
  from: NodeId;
  to: NodeId;
  messages: readonly Message[];
}

export class InProcessTransport implements RaftTransport {
  private readonly peers: Set<NodeId>;
  private receiver: ((messages: readonly Message[]) => void) | undefined;
  private readonly inbox: Batch[] = [];
  private inboxMessages = 0;
  private scheduled = false;
  private closed = false;
  private readonly counters: TransportStats = emptyStats();
  /** The last refusal, for tests and logs. */
  lastRefusal = '';

  constructor(
    private readonly network: InProcessNetwork,
    readonly nodeId: NodeId,
    peers: readonly NodeId[],
    readonly clusterId: string,
  ) {
    this.peers = new Set(peers.filter((p) => p !== nodeId));
  }

  start(receive: (messages: readonly Message[]) => void): Promise<void> {
    this.receiver = receive;
    return Promise.resolve();
  }

  send(messages: readonly Message[]): void {
    if (this.closed) return;
    const byPeer = new Map<NodeId, Message[]>();
    for (const m of messages) {
      const list = byPeer.get(m.to);
      if (list === undefined) byPeer.set(m.to, [m]);
      else list.push(m);
    }
    for (const [to, list] of byPeer) {
      if (this.peers.has(to) && this.network.deliver(this, to, list)) this.counters.sent += list.length;
      else this.counters.dropped += list.length;
    }
  }

  setPeer(id: NodeId, _address: string): void {
    if (id !== this.nodeId) this.peers.add(id);
  }
  removePeer(id: NodeId): void {
    this.peers.delete(id);
  }

  stats(): TransportStats {
    return { ...this.counters, refused: { ...this.counters.refused } };
  }

  close(): Promise<void> {
    this.closed = true;
    this.receiver = undefined;
    this.inbox.length = 0;
    this.network.detach(this);
    return Promise.resolve();
  }

  /** @internal */
  enqueue(batch: Batch): void {
    if (this.closed) return;
    this.inbox.push(batch);
    this.inboxMessages += batch.messages.length;
    while (this.inboxMessages > this.network.maxQueuedPerNode && this.inbox.length > 1) {
      const dropped = this.inbox.shift();
      this.inboxMessages -= dropped?.messages.length ?? 0;
      this.counters.dropped += dropped?.messages.length ?? 0;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    this.scheduled = false;
    const batches = this.inbox.splice(0);
    this.inboxMessages = 0;
    for (const b of batches) {
      if (this.receiver === undefined) {
        this.counters.refused.notStarted++;
        continue;
      }
      const refusal = checkBatch({ clusterId: this.clusterId, nodeId: this.nodeId, knows: (id) => this.peers.has(id) }, b);
      if (refusal !== undefined) {
        this.counters.refused[refusal.kind]++;
        this.lastRefusal = refusal.detail;
        continue;
      }
      this.counters.received += b.messages.length;
      this.receiver(b.messages);
    }
  }
}
