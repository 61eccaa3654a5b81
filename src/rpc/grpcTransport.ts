// The Raft transport over gRPC: service ordo.Raft with one unary method, Send(RaftBatch) → RaftBatchAck,
// defined by hand (no protobuf): grpc-js's makeGenericClientConstructor and Server.addService take a
// service definition whose serializers are the Avro codecs of sequencer/raft/codec.ts.
//
// Per peer there is one sender: a bounded queue (oldest dropped when full: Raft tolerates loss, and a
// newer heartbeat or append supersedes an older one) and at most one call in flight, so a batch carries
// everything queued while the previous call ran. A failed call drops its batch and the sender waits an
// exponential backoff before the next; the channel itself reconnects with grpc-js's backoff, capped low
// so that a restarted peer is reached again within about a second. Calls do not wait for a connection
// (no waitForReady) and carry a deadline, so a dead or stuck peer costs one pending call at most and
// never blocks sends to the others.

import * as grpc from '@grpc/grpc-js';
import {
  approxMessageBytes,
  checkBatch,
  decodeAck,
  decodeBatch,
  emptyStats,
  encodeAck,
  encodeBatch,
  type Message,
  type NodeId,
  type RaftBatch,
  type RaftBatchAck,
  type RaftTransport,
  type TransportStats,
  type Unsealed,
} from '../sequencer/raft/index.js';

export const RAFT_SERVICE_NAME = 'ordo.Raft';
export const RAFT_SEND_PATH = '/ordo.Raft/Send';

/** The hand-written service definition: Avro in, Avro out. The request side never throws on bad bytes. */
export const raftServiceDefinition = {
  Send: {
    path: RAFT_SEND_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (batch: RaftBatch): Buffer => encodeBatch(batch),
    requestDeserialize: (bytes: Buffer): Unsealed<RaftBatch> => decodeBatch(bytes),
    responseSerialize: (ack: RaftBatchAck): Buffer => encodeAck(ack),
    responseDeserialize: (bytes: Buffer): RaftBatchAck => decodeAck(bytes),
    originalName: 'send',
  },
} as const satisfies grpc.ServiceDefinition;

type SendCallback = (err: grpc.ServiceError | null, ack?: RaftBatchAck) => void;
/** The one method of the generated client, typed (the generic constructor types methods as Function). */
interface RaftClient extends grpc.Client {
  Send(batch: RaftBatch, metadata: grpc.Metadata, options: grpc.CallOptions, callback: SendCallback): grpc.ClientUnaryCall;
}
const RaftClientConstructor = grpc.makeGenericClientConstructor(raftServiceDefinition, RAFT_SERVICE_NAME);

export interface GrpcTransportOptions {
  readonly clusterId: string;
  readonly nodeId: NodeId;
  /** host:port to listen on; port 0 picks a free one (see `port` after start). */
  readonly listen: string;
  /** Peer id → host:port. */
  readonly peers: ReadonlyMap<NodeId, string> | Readonly<Record<NodeId, string>>;
  readonly callTimeoutMs?: number;
  readonly maxQueuedMessagesPerPeer?: number;
  readonly maxQueuedBytesPerPeer?: number;
  readonly maxBatchMessages?: number;
  readonly maxBatchBytes?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Where refusals and call failures are reported (rate-limited per peer); default: nowhere. */
  readonly log?: (line: string) => void;
  /** Further services on the same server (the sequencer's Forward), so a node has one node-to-node port. */
  readonly services?: readonly { readonly definition: grpc.ServiceDefinition; readonly implementation: grpc.UntypedServiceImplementation }[];
}

export const GrpcTransportDefaults = {
  callTimeoutMs: 1000,
  maxQueuedMessagesPerPeer: 4096,
  maxQueuedBytesPerPeer: 16 * 1024 * 1024,
  maxBatchMessages: 512,
  /** Below grpc's message limit, which is raised to maxMessageBytes. */
  maxBatchBytes: 4 * 1024 * 1024,
  initialBackoffMs: 50,
  maxBackoffMs: 1000,
  maxMessageBytes: 64 * 1024 * 1024,
  /** At most one log line per peer and reason in this interval. */
  logIntervalMs: 5000,
} as const;

export class GrpcTransport implements RaftTransport {
  readonly nodeId: NodeId;
  readonly clusterId: string;
  private readonly options: GrpcTransportOptions;
  private readonly peers = new Map<NodeId, PeerSender>();
  private server: grpc.Server | undefined;
  private receiver: ((messages: readonly Message[]) => void) | undefined;
  private boundPort = 0;
  private closed = false;
  private readonly counters: TransportStats = emptyStats();
  private readonly lastLogAtMs = new Map<string, number>();

  constructor(options: GrpcTransportOptions) {
    this.options = options;
    this.nodeId = options.nodeId;
    this.clusterId = options.clusterId;
    const entries = options.peers instanceof Map ? [...options.peers] : Object.entries(options.peers);
    for (const [id, address] of entries) this.setPeer(id, address);
  }

  /** The port the server listens on (after start). */
  get port(): number {
    return this.boundPort;
  }

  start(receive: (messages: readonly Message[]) => void): Promise<void> {
    this.receiver = receive;
    const server = new grpc.Server({
      'grpc.max_receive_message_length': GrpcTransportDefaults.maxMessageBytes,
      'grpc.max_send_message_length': GrpcTransportDefaults.maxMessageBytes,
    });
    server.addService(raftServiceDefinition, { Send: (call: grpc.ServerUnaryCall<Unsealed<RaftBatch>, RaftBatchAck>, callback: grpc.sendUnaryData<RaftBatchAck>) => this.handle(call.request, callback) });
    for (const extra of this.options.services ?? []) server.addService(extra.definition, extra.implementation);
    this.server = server;
    return new Promise((resolve, reject) => {
      server.bindAsync(this.options.listen, grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err !== null) {
          reject(new Error(`node ${this.nodeId} cannot listen on ${this.options.listen}: ${err.message}`, { cause: err }));
          return;
        }
        this.boundPort = port;
        resolve();
      });
    });
  }

  private handle(request: Unsealed<RaftBatch>, callback: grpc.sendUnaryData<RaftBatchAck>): void {
    if (!request.ok) {
      this.counters.refused.malformed++;
      this.logLimited('malformed', `raft rpc: refused a malformed batch: ${request.problem}`);
      callback({ code: grpc.status.INVALID_ARGUMENT, details: request.problem });
      return;
    }
    const batch = request.value;
    const receive = this.receiver;
    if (receive === undefined || this.closed) {
      this.counters.refused.notStarted++;
      callback({ code: grpc.status.UNAVAILABLE, details: `node ${this.nodeId} is not accepting messages` });
      return;
    }
    const refusal = checkBatch({ clusterId: this.clusterId, nodeId: this.nodeId, knows: (id) => this.peers.has(id) }, batch);
    if (refusal !== undefined) {
      this.counters.refused[refusal.kind]++;
      this.logLimited(`${refusal.kind}:${batch.from}`, `raft rpc: refused a batch from "${batch.from}": ${refusal.detail}`);
      callback({ code: grpc.status.PERMISSION_DENIED, details: refusal.detail });
      return;
    }
    this.counters.received += batch.messages.length;
    // Acknowledge receipt only: the messages are stepped now, their effects leave through later Readies.
    try {
      receive(batch.messages);
    } finally {
      callback(null, { accepted: batch.messages.length });
    }
  }

  send(messages: readonly Message[]): void {
    if (this.closed) return;
    for (const m of messages) {
      const peer = this.peers.get(m.to);
      if (peer === undefined) this.counters.dropped++;
      else peer.push(m);
    }
    for (const peer of this.peers.values()) peer.pump();
  }

  setPeer(id: NodeId, address: string): void {
    if (id === this.nodeId) return;
    const existing = this.peers.get(id);
    if (existing?.address === address) return;
    existing?.close();
    this.peers.set(id, new PeerSender(this, id, address, this.options, this.counters));
  }

  removePeer(id: NodeId): void {
    this.peers.get(id)?.close();
    this.peers.delete(id);
  }

  stats(): TransportStats {
    return { ...this.counters, refused: { ...this.counters.refused } };
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.receiver = undefined;
    for (const p of this.peers.values()) p.close();
    const server = this.server;
    if (server === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      // Peers' calls are tiny and answered at once; a short grace period, then force.
      const force = setTimeout(() => server.forceShutdown(), 500);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  /** @internal */
  logLimited(key: string, line: string): void {
    const log = this.options.log;
    if (log === undefined) return;
    const now = Date.now();
    if (now - (this.lastLogAtMs.get(key) ?? -Infinity) < GrpcTransportDefaults.logIntervalMs) return;
    this.lastLogAtMs.set(key, now);
    if (this.lastLogAtMs.size > 1024) this.lastLogAtMs.clear();
    log(line);
  }
}

class PeerSender {
  private readonly client: RaftClient;
  private queue: Message[] = [];
  private queuedBytes = 0;
  private inFlight = false;
  private backoffMs = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly callTimeoutMs: number;
  private readonly maxQueuedMessages: number;
  private readonly maxQueuedBytes: number;
  private readonly maxBatchMessages: number;
  private readonly maxBatchBytes: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(
    private readonly owner: GrpcTransport,
    readonly id: NodeId,
    readonly address: string,
    options: GrpcTransportOptions,
    private readonly counters: TransportStats,
  ) {
    this.callTimeoutMs = options.callTimeoutMs ?? GrpcTransportDefaults.callTimeoutMs;
    this.maxQueuedMessages = options.maxQueuedMessagesPerPeer ?? GrpcTransportDefaults.maxQueuedMessagesPerPeer;
    this.maxQueuedBytes = options.maxQueuedBytesPerPeer ?? GrpcTransportDefaults.maxQueuedBytesPerPeer;
    this.maxBatchMessages = options.maxBatchMessages ?? GrpcTransportDefaults.maxBatchMessages;
    this.maxBatchBytes = options.maxBatchBytes ?? GrpcTransportDefaults.maxBatchBytes;
    this.initialBackoffMs = options.initialBackoffMs ?? GrpcTransportDefaults.initialBackoffMs;
    this.maxBackoffMs = options.maxBackoffMs ?? GrpcTransportDefaults.maxBackoffMs;
    this.client = new RaftClientConstructor(address, grpc.credentials.createInsecure(), {
      // grpc-js defaults to 1 s growing to 120 s; a restarted peer must be reachable again quickly.
      'grpc.initial_reconnect_backoff_ms': Math.max(100, this.initialBackoffMs),
      'grpc.max_reconnect_backoff_ms': this.maxBackoffMs,
      'grpc.max_receive_message_length': GrpcTransportDefaults.maxMessageBytes,
      'grpc.max_send_message_length': GrpcTransportDefaults.maxMessageBytes,
      // Raft retries by itself; grpc-level retries would only duplicate and delay.
      'grpc.enable_retries': 0,
    }) as unknown as RaftClient;
  }

  push(m: Message): void {
    if (this.closed) return;
    const bytes = approxMessageBytes(m);
    this.queue.push(m);
    this.queuedBytes += bytes;
    while (this.queue.length > 1 && (this.queue.length > this.maxQueuedMessages || this.queuedBytes > this.maxQueuedBytes)) {
      const dropped = this.queue.shift();
      if (dropped !== undefined) this.queuedBytes -= approxMessageBytes(dropped);
      this.counters.dropped++;
    }
  }

  pump(): void {
    if (this.closed || this.inFlight || this.retryTimer !== undefined || this.queue.length === 0) return;
    let count = 0;
    let bytes = 0;
    while (count < this.queue.length && count < this.maxBatchMessages) {
      const next = approxMessageBytes(this.queue[count] as Message);
      if (count > 0 && bytes + next > this.maxBatchBytes) break;
      bytes += next;
      count++;
    }
    const messages = this.queue.splice(0, count);
    this.queuedBytes -= bytes;
    this.inFlight = true;
    const batch: RaftBatch = { clusterId: this.owner.clusterId, from: this.owner.nodeId, to: this.id, messages };
    this.client.Send(batch, new grpc.Metadata(), { deadline: Date.now() + this.callTimeoutMs }, (err) => {
      this.inFlight = false;
      if (this.closed) return;
      if (err === null) {
        this.counters.sent += messages.length;
        this.backoffMs = 0;
      } else {
        this.counters.failedCalls++;
        this.counters.dropped += messages.length;
        this.owner.logLimited(`call:${this.id}:${err.code}`, `raft rpc: send to ${this.id} at ${this.address} failed: ${err.details || err.message}`);
        this.backoffMs = Math.min(this.maxBackoffMs, this.backoffMs === 0 ? this.initialBackoffMs : this.backoffMs * 2);
        // Jitter keeps several nodes from retrying a restarted peer in lockstep.
        const waitMs = this.backoffMs / 2 + Math.random() * (this.backoffMs / 2);
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.pump();
        }, waitMs);
      }
      this.pump();
    });
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.queue = [];
    this.queuedBytes = 0;
    this.client.close();
  }
}
