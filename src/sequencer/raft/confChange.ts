// Membership changes: applying one single-server change to a configuration, and the bytes of a
// confChange entry. The entry carries the whole resulting configuration so that a node (or the
// scheduler reading the committed log) never has to replay earlier changes to know the membership.

import { assert } from '../../util/index.js';
import { ConfChangeType, type ConfChange, type ConfChangeRecord, type ConfState, type NodeId } from './types.js';

const sorted = (ids: Iterable<NodeId>): NodeId[] => [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** The configuration after `change`, or a reason why the change does not apply to `conf`. */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState | string {
  const voters = new Set(conf.voters);
  const learners = new Set(conf.learners);
  const id = change.nodeId;
  if (id === '') return 'a node id must not be empty';
  switch (change.type) {
    case ConfChangeType.addLearner:
      if (voters.has(id) || learners.has(id)) return `node ${id} is already a member`;
      learners.add(id);
      break;
    case ConfChangeType.addVoter:
      if (voters.has(id)) return `node ${id} is already a voter`;
      if (!learners.has(id)) return `node ${id} must join as a learner and catch up before it votes`;
      learners.delete(id);
      voters.add(id);
      break;
    case ConfChangeType.removeNode:
      if (!voters.has(id) && !learners.has(id)) return `node ${id} is not a member`;
      voters.delete(id);
      learners.delete(id);
      if (voters.size === 0) return 'the last voter cannot be removed';
      break;
  }
  return { voters: sorted(voters), learners: sorted(learners) };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeConfChange(record: ConfChangeRecord): Uint8Array {
  return encoder.encode(
    JSON.stringify({ change: { type: record.change.type, nodeId: record.change.nodeId }, conf: { voters: sorted(record.conf.voters), learners: sorted(record.conf.learners) } }),
  );
}

const isIdList = (v: unknown): v is NodeId[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

export function decodeConfChange(data: Uint8Array): ConfChangeRecord {
  const raw: unknown = JSON.parse(decoder.decode(data));
  assert(typeof raw === 'object' && raw !== null, 'confChange entry is not an object');
  const { change, conf } = raw as { change?: { type?: unknown; nodeId?: unknown }; conf?: { voters?: unknown; learners?: unknown } };
  assert(change !== undefined && conf !== undefined, 'confChange entry lacks change or conf');
  const type = change.type;
  assert(type === ConfChangeType.addLearner || type === ConfChangeType.addVoter || type === ConfChangeType.removeNode, 'confChange entry has an unknown change type');
  assert(typeof change.nodeId === 'string', 'confChange entry has no node id');
  assert(isIdList(conf.voters) && isIdList(conf.learners), 'confChange entry has a malformed configuration');
  return { change: { type, nodeId: change.nodeId }, conf: { voters: conf.voters, learners: conf.learners } };
}
