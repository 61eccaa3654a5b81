// The Postgres wire-protocol server of a node: accepts TCP connections and runs one Session each.

import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { randomInt } from 'node:crypto';
import type { OrdoNode } from '../node/index.js';
import { BackendWriter } from './wire/index.js';
import { SqlEngine } from './engine.js';
import { Session } from './session.js';

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
  const engine = new SqlEngine(options.node, options.planCacheEntries === undefined ? {} : { planCacheEntries: options.planCacheEntries });
  const maxConnections = options.maxConnections ?? PgServerDefaults.maxConnections;
  const sockets = new Set<Socket>();
  let nextProcessId = 1;
  const server: Server = createServer((socket) => {
    if (sockets.size >= maxConnections) {
      const w = new BackendWriter();
      socket.on('error', () => socket.destroy());
      socket.end(w.errorResponse({ severity: 'FATAL', code: '53300', message: 'sorry, too many clients already' }).flush());
      return;
    }
    sockets.add(socket);
    new Session(socket, {
      engine,
      processId: nextProcessId++,
      secretKey: randomInt(0, 0x7fffffff),
      onClose: () => sockets.delete(socket),
    });
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
