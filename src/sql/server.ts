// The Postgres wire-protocol server of a node: accepts TCP connections and runs one Session each,
// and routes a CancelRequest to the session whose key it carries.

import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { OrdoNode } from '../node/index.js';
import { OrdoError, SqlState } from '../util/index.js';
import { BackendWriter } from './wire/index.js';
import { SqlEngine } from './engine.js';
import { catalogFunctions, pgCatalogRelations } from './pgcatalog/index.js';
import { Session } from './session.js';
import { lookupVerifier } from './users.js';

/** How clients prove who they are. */
export const AuthMethod = {
  /** Anyone is who they say: the embedded default, as a fresh PostgreSQL allows locally. */
  trust: 'trust',
  /** SCRAM-SHA-256 against the users of the data directory (`ordo user add`). */
  scram: 'scram',
} as const;
export type AuthMethod = (typeof AuthMethod)[keyof typeof AuthMethod];

/** The method a setting names; 22023 for anything else. */
export function authMethod(name: string): AuthMethod {
  const method = Object.values(AuthMethod).find((m) => m === name);
  if (method === undefined) throw new OrdoError(SqlState.invalidParameterValue, `unknown authentication method "${name}" (${Object.values(AuthMethod).join(' or ')})`);
  return method;
}

export const PgServerDefaults = {
  /** Not 5432, so a local PostgreSQL does not collide. */
  port: 5480,
  host: '127.0.0.1',
  maxConnections: 1_000,
} as const;

export interface PgServerOptions {
  readonly node: OrdoNode;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  readonly maxConnections?: number;
  readonly planCacheEntries?: number;
  /** Default trust. */
  readonly auth?: AuthMethod;
  /** How long a connection may take to log in (SessionLimits.authenticationTimeoutMs by default). */
  readonly authenticationTimeoutMs?: number;
}

export interface PgServer {
  readonly host: string;
  readonly port: number;
  readonly engine: SqlEngine;
  /** Open connections right now. */
  readonly connectionCount: number;
  /** Stops accepting, closes every connection, and resolves when the listener is closed. */
  close(): Promise<void>;
}

/** Starts the server; resolves once it listens. */
export async function startPgServer(options: PgServerOptions): Promise<PgServer> {
  const engine = new SqlEngine(options.node, {
    ...(options.planCacheEntries === undefined ? {} : { planCacheEntries: options.planCacheEntries }),
    queryRegistry: { relations: pgCatalogRelations, functions: catalogFunctions },
  });
  const maxConnections = options.maxConnections ?? PgServerDefaults.maxConnections;
  const sockets = new Set<Socket>();
  const sessions = new Map<number, { readonly secretKey: number; readonly session: Session }>();
  let lastProcessId = 0;
  const dataDir = options.node.dataDir;
  const verifierOf = options.auth === AuthMethod.scram ? (user: string) => lookupVerifier(dataDir, user) : null;
  const cancel = (processId: number, secretKey: number): void => {
    const target = sessions.get(processId);
    // A wrong key is ignored without a word, as in PostgreSQL.
    if (target?.secretKey === secretKey) target.session.cancel();
  };
  const server: Server = createServer((socket) => {
    if (sockets.size >= maxConnections) {
      const w = new BackendWriter();
      socket.on('error', () => socket.destroy());
      socket.end(w.errorResponse({ severity: 'FATAL', code: '53300', message: 'sorry, too many clients already' }).flush());
      return;
    }
    sockets.add(socket);
    // No two open sessions share an id (there are at most maxConnections, so the search is short).
    do lastProcessId = lastProcessId >= 0x7fffffff ? 1 : lastProcessId + 1;
    while (sessions.has(lastProcessId));
    const processId = lastProcessId;
    const secretKey = randomBytes(4).readInt32BE(0);
    const session = new Session(socket, {
      engine,
      processId,
      secretKey,
      verifierOf,
      ...(options.authenticationTimeoutMs === undefined ? {} : { authenticationTimeoutMs: options.authenticationTimeoutMs }),
      onCancelRequest: cancel,
      onClose: () => {
        sockets.delete(socket);
        sessions.delete(processId);
      },
    });
    sessions.set(processId, { secretKey, session });
  });
  const host = options.host ?? PgServerDefaults.host;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? PgServerDefaults.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    host,
    port,
    engine,
    get connectionCount() {
      return sockets.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
