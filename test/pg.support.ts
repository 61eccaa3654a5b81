// Shared by the pg.* tests: an in-process node with the Postgres server on a free port, and clients.

import pg from 'pg';
import { openNode, type OrdoNode } from '../src/node/index.js';
import { startPgServer, type PgServer } from '../src/sql/index.js';
import { scratchDir } from './helpers.js';

export interface Harness {
  readonly node: OrdoNode;
  readonly server: PgServer;
  client(): Promise<pg.Client>;
  close(): Promise<void>;
}

export async function harness(): Promise<Harness> {
  const node = openNode({ dataDir: scratchDir('ordo-pg-'), epochMs: 1 });
  const server = await startPgServer({ node, port: 0 });
  const clients: pg.Client[] = [];
  return {
    node,
    server,
    async client() {
      const c = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'postgres' });
      c.on('error', () => {});
      await c.connect();
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      await server.close();
      await node.close();
    },
  };
}

/** The error a failing query rejects with (fails the test when it does not fail). */
export async function failure(p: Promise<unknown>): Promise<{ code?: string; message: string; position?: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message: string; position?: string };
  }
  throw new Error('expected the query to fail');
}
