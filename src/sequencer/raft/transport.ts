// How a Raft driver reaches its peers. Sending is fire-and-forget: Raft tolerates lost, duplicated and
// reordered messages, so a transport drops rather than blocks, and one slow or dead peer never delays
// messages to the others.

import type { Message, NodeId } from './types.js';

export interface RaftTransport {
  readonly nodeId: NodeId;
  /** Starts accepting messages for this node; `receive` gets each accepted batch (all addressed to nodeId). */
  start(receive: (messages: readonly Message[]) => void): Promise<void>;
  /** Queues messages for their recipients; never throws for an unreachable peer, never blocks. */
  send(messages: readonly Message[]): void;
  /** Adds or updates a peer (membership change). */
  setPeer(id: NodeId, address: string): void;
  removePeer(id: NodeId): void;
  stats(): TransportStats;
  close(): Promise<void>;
}

export interface TransportStats {
  /** Messages handed to the network (or, for gRPC, carried by a successful call). */
  sent: number;
  received: number;
  /** Dropped on this side: queue full (oldest first), unknown recipient, or a failed call's batch. */
  dropped: number;
  failedCalls: number;
  refused: RefusalCounts;
}

/** Batches this node refused, by reason. */
export interface RefusalCounts {
  wrongCluster: number;
  unknownNode: number;
  wrongRecipient: number;
  malformed: number;
  notStarted: number;
}

export const emptyStats = (): TransportStats => ({
  sent: 0,
  received: 0,
  dropped: 0,
  failedCalls: 0,
  refused: { wrongCluster: 0, unknownNode: 0, wrongRecipient: 0, malformed: 0, notStarted: 0 },
});

export const RefusalKind = {
  wrongCluster: 'wrongCluster',
  unknownNode: 'unknownNode',
  wrongRecipient: 'wrongRecipient',
  malformed: 'malformed',
  notStarted: 'notStarted',
} as const;
export type RefusalKind = (typeof RefusalKind)[keyof typeof RefusalKind];

/**
 * The admission check both transports apply to an incoming batch: same cluster, a sender this node
 * knows, addressed to this node, and every message consistent with the envelope. Returns why it is
 * refused, or undefined to accept.
 */
export function checkBatch(
  self: { clusterId: string; nodeId: NodeId; knows: (id: NodeId) => boolean },
  batch: { clusterId: string; from: NodeId; to: NodeId; messages: readonly Message[] },
): { kind: RefusalKind; detail: string } | undefined {
  if (batch.clusterId !== self.clusterId) return { kind: RefusalKind.wrongCluster, detail: `cluster "${batch.clusterId}" is not "${self.clusterId}"` };
  if (!self.knows(batch.from)) return { kind: RefusalKind.unknownNode, detail: `node "${batch.from}" is not a known peer of "${self.nodeId}"` };
  if (batch.to !== self.nodeId) return { kind: RefusalKind.wrongRecipient, detail: `batch for "${batch.to}" reached "${self.nodeId}"` };
  for (const m of batch.messages) {
    if (m.from !== batch.from || m.to !== self.nodeId) {
      return { kind: RefusalKind.wrongRecipient, detail: `message ${m.from}→${m.to} inside a batch ${batch.from}→${batch.to}` };
    }
  }
  return undefined;
}
