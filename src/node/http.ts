// A node's HTTP endpoint: GET /health (what `ordo cluster status` shows) and, on cluster nodes, the
// admin requests that change the membership or move leadership. Admin requests are JSON POSTs answered
// by the leader only; another node answers 421 naming the leader it knows of, so a client retries there.
//
//   POST /admin/members/add-learner  {"id": "n4", "address": "HOST:PORT"}   record the address, add as learner
//   POST /admin/members/promote      {"id": "n4"}                           learner → voter once caught up
//   POST /admin/members/remove       {"id": "n2"}                           remove a member (not the leader)
//   POST /admin/leader/transfer      {"to": "n3"}                           hand leadership to a voter
//
// Answers: 200 {"ok": true, "position"?}; 400 a malformed request; 409 {"error", "refusal": "invalid"}
// it cannot succeed as asked; 421 {"error", "refusal": "notLeader", "leader"}; 503 {"error", "refusal":
// "retry"} not now (a change in progress, a learner still catching up, no leader yet).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { errorMessage } from '../util/index.js';
import { AdminError, AdminRefusal, type OrdoNode } from './node.js';

export const AdminPaths = {
  addLearner: '/admin/members/add-learner',
  promote: '/admin/members/promote',
  remove: '/admin/members/remove',
  transferLeader: '/admin/leader/transfer',
} as const;

/** What an admin request answers with. */
export interface AdminAnswer {
  readonly ok: boolean;
  readonly position?: number;
  readonly error?: string;
  readonly refusal?: AdminRefusal;
  readonly leader?: string;
}

const MAX_BODY_BYTES = 64 * 1024;

const HttpStatus = { [AdminRefusal.invalid]: 409, [AdminRefusal.notLeader]: 421, [AdminRefusal.retry]: 503 } as const;

class BadRequest extends Error {}

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_BODY_BYTES) {
        reject(new BadRequest(`the request body exceeds ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      try {
        const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequest('the request body must be a JSON object');
        resolve(body as Record<string, unknown>);
      } catch (err) {
        reject(err instanceof BadRequest ? err : new BadRequest(`the request body is not JSON: ${errorMessage(err)}`));
      }
    });
  });
}

function field(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  if (typeof v !== 'string' || v === '') throw new BadRequest(`"${name}" (a non-empty string) is required`);
  return v;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}

async function admin(node: OrdoNode, path: string, body: Record<string, unknown>): Promise<AdminAnswer | undefined> {
  switch (path) {
    case AdminPaths.addLearner:
      return { ok: true, position: await node.addLearner(field(body, 'id'), field(body, 'address')) };
    case AdminPaths.promote:
      return { ok: true, position: await node.promoteLearner(field(body, 'id')) };
    case AdminPaths.remove:
      return { ok: true, position: await node.removeMember(field(body, 'id')) };
    case AdminPaths.transferLeader:
      await node.transferLeadership(field(body, 'to'));
      return { ok: true };
    default:
      return undefined;
  }
}

async function handleAdmin(node: OrdoNode, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const answer = await admin(node, path, await readJson(req));
    if (answer === undefined) send(res, 404, { ok: false, error: `no admin request ${path}` });
    else send(res, 200, answer);
  } catch (err) {
    if (err instanceof BadRequest) send(res, 400, { ok: false, error: err.message });
    else if (err instanceof AdminError) send(res, HttpStatus[err.refusal], { ok: false, error: err.message, refusal: err.refusal, leader: err.leader });
    // Anything else (the log entry's outcome unknown, the node stopping) may well work if asked again.
    else send(res, HttpStatus.retry, { ok: false, error: errorMessage(err), refusal: AdminRefusal.retry });
  }
}

/** The node's HTTP server (not yet listening); `ports.pg` is read when /health is asked. */
export function nodeHttpServer(node: OrdoNode, ports: { readonly pg: number }): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method === 'GET' && (path === '/health' || path === '/')) {
      const cluster = node.clusterStatus();
      send(res, 200, {
        status: 'ok',
        dataDir: node.dataDir,
        appliedPosition: node.appliedPosition,
        lastLogPosition: node.lastLogPosition,
        checksum: node.checksum,
        pid: process.pid,
        pgPort: ports.pg,
        ...(cluster === undefined ? {} : { cluster }),
      });
      return;
    }
    if (req.method === 'POST' && path.startsWith('/admin/')) {
      void handleAdmin(node, path, req, res);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
}
