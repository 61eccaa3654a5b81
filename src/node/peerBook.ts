// The address book of a cluster node: where each member serves Raft and forwarded writes.
//
// It starts from the node's configured peers (--peers) and is then replicated state: the leader
// records a new member's address with a `setSetting cluster.peer.ID = HOST:PORT` control entry before
// it proposes the member as a learner, and a removed member with `cluster.peer.ID = ''` (a tombstone:
// the id is never a peer again, whatever --peers says). Every node applies those entries in log order
// and keeps its transport in step, so a running node learns a new member without a restart, and a
// restarted node reads the book from its store (settings are applied with their log position).
// Messages and forwarded writes from a node that is not in the book are refused by the transport.

import type { NodeId } from '../sequencer/raft/index.js';

const PREFIX = 'cluster.peer.';

/** The setting name under which the log records `id`'s address. */
export const peerSettingName = (id: NodeId): string => `${PREFIX}${id}`;

export class PeerBook {
  private readonly addresses = new Map<NodeId, string>();
  private readonly removed = new Set<NodeId>();
  private readonly onChange: (id: NodeId, address: string | undefined) => void;

  /**
   * `configured` are the --peers; `settings` the store's applied settings. `onChange` hears every
   * later change (an address set, or undefined once a member is removed).
   */
  constructor(
    configured: Readonly<Record<NodeId, string>>,
    settings: Readonly<Record<string, string>>,
    onChange: (id: NodeId, address: string | undefined) => void,
  ) {
    for (const [id, address] of Object.entries(configured)) this.addresses.set(id, address);
    for (const [name, value] of Object.entries(settings)) this.record(name, value);
    this.onChange = onChange;
  }

  /** Applies a committed setting; returns whether it was an address-book entry. */
  apply(name: string, value: string): boolean {
    const id = this.record(name, value);
    if (id === undefined) return false;
    this.onChange(id, this.addresses.get(id));
    return true;
  }

  private record(name: string, value: string): NodeId | undefined {
    if (!name.startsWith(PREFIX)) return undefined;
    const id = name.slice(PREFIX.length);
    if (value === '') {
      this.addresses.delete(id);
      this.removed.add(id);
    } else if (!this.removed.has(id)) {
      this.addresses.set(id, value);
    }
    return id;
  }

  address(id: NodeId): string | undefined {
    return this.addresses.get(id);
  }

  knows(id: NodeId): boolean {
    return this.addresses.has(id);
  }

  /** Whether `id` was removed from the cluster (its id is never used again). */
  wasRemoved(id: NodeId): boolean {
    return this.removed.has(id);
  }

  /** id → address of every node in the book. */
  entries(): Record<NodeId, string> {
    return Object.fromEntries(this.addresses);
  }
}
