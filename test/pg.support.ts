// Shared by the pg.* tests: an in-process node with the Postgres server on a free port, and clients.

import pg from 'pg';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { openNode, type OrdoNode } from '../src/node/index.js';
import { normalizeSingle, startPgServer, type PgServer, type PgServerOptions, type ProgramPlan, type SplitStatement, type SqlEngine } from '../src/sql/index.js';
import type { Value } from '../src/partitions/index.js';
import { scratchDir } from './helpers.js';

export interface Harness {
  readonly node: OrdoNode;
  readonly server: PgServer;
  client(): Promise<pg.Client>;
  close(): Promise<void>;
}

export async function harness(serverOptions: Omit<PgServerOptions, 'node' | 'port'> = {}): Promise<Harness> {
  const node = openNode({ dataDir: scratchDir('ordo-pg-'), epochMs: 1 });
  const server = await startPgServer({ ...serverOptions, node, port: 0 });
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

// --- a raw protocol client: pg-protocol's own serializer and parser on a bare socket ----------------

const requireCjs = createRequire(import.meta.url);
// pg-protocol is CommonJS; its named exports are getters an ESM import cannot always see.
export const { serialize } = requireCjs('pg-protocol') as typeof import('pg-protocol');
const { Parser } = requireCjs('pg-protocol/dist/parser.js') as typeof import('pg-protocol/dist/parser.js');

/** A parsed backend message: pg-protocol's name plus its fields; DataRow fields are raw bytes (pg-protocol's
 *  parser has no binary mode) and NegotiateProtocolVersion, which it does not know, is `negotiateProtocolVersion`. */
export type RawMessage = { readonly name: string } & Readonly<Record<string, unknown>>;

export interface RawClient {
  readonly socket: Socket;
  /** From BackendKeyData, after a trust login. */
  readonly processId: number;
  readonly secretKey: number;
  send(...messages: Buffer[]): void;
  /** The messages up to and including the first named `name` (pg-protocol's names: 'readyForQuery', 'error', …). */
  until(name: string): Promise<RawMessage[]>;
  /** Every message until the server closes the connection. */
  closed(): Promise<RawMessage[]>;
}

/** Connects; with `startup`, sends it and waits for the trust login's ReadyForQuery. */
export async function rawClient(port: number, startup: Record<string, string> | null = { user: 'postgres', database: 'postgres' }): Promise<RawClient> {
  const socket = createConnection({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  const parser = new Parser();
  const inbox: RawMessage[] = [];
  let ended = false;
  let wake: () => void = () => {};
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5 && pending.length >= 1 + pending.readInt32BE(1)) {
      const message = pending.subarray(0, 1 + pending.readInt32BE(1));
      pending = pending.subarray(message.length);
      const type = String.fromCharCode(message[0] ?? 0);
      if (type === 'D') inbox.push({ name: 'dataRow', fields: dataRowFields(message) });
      else if (type === 'v') inbox.push({ name: 'negotiateProtocolVersion', newestMinor: message.readInt32BE(5), options: cstrings(message.subarray(13)) });
      else parser.parse(message, (m) => inbox.push({ ...m, message: (m as { message?: string }).message } as unknown as RawMessage));
    }
    wake();
  });
  socket.on('close', () => {
    ended = true;
    wake();
  });
  socket.on('error', () => {});
  const next = async (): Promise<RawMessage | null> => {
    while (inbox.length === 0 && !ended) await new Promise<void>((resolve) => (wake = resolve));
    return inbox.shift() ?? null;
  };
  const until = async (name: string): Promise<RawMessage[]> => {
    const out: RawMessage[] = [];
    for (;;) {
      const m = await next();
      if (m === null) throw new Error(`connection closed before ${name}; got ${out.map((x) => x.name).join(', ')}`);
      out.push(m);
      if (m.name === name) return out;
    }
  };
  const key = { processId: 0, secretKey: 0 };
  if (startup !== null) {
    socket.write(serialize.startup(startup));
    const login = await until('readyForQuery');
    const data = login.find((m) => m.name === 'backendKeyData');
    key.processId = Number(data?.processID);
    key.secretKey = Number(data?.secretKey);
  }
  return {
    socket,
    ...key,
    send: (...messages) => {
      socket.write(Buffer.concat(messages));
    },
    until,
    async closed() {
      const out: RawMessage[] = [];
      for (let m = await next(); m !== null; m = await next()) out.push(m);
      return out;
    },
  };
}

function dataRowFields(message: Buffer): (Buffer | null)[] {
  const fields: (Buffer | null)[] = [];
  let pos = 7;
  for (let i = message.readInt16BE(5); i > 0; i--) {
    const length = message.readInt32BE(pos);
    pos += 4;
    fields.push(length === -1 ? null : message.subarray(pos, pos + length));
    pos += Math.max(length, 0);
  }
  return fields;
}

function cstrings(bytes: Buffer): string[] {
  return bytes.toString('utf8').split('\0').slice(0, -1);
}

/** Sends a CancelRequest on a new connection; resolves with what the server answered once it closed it. */
export async function sendCancel(port: number, processId: number, secretKey: number): Promise<Buffer> {
  const socket = createConnection({ host: '127.0.0.1', port });
  const answer: Buffer[] = [];
  socket.on('data', (d: Buffer) => answer.push(d));
  socket.write(serialize.cancel(processId, secretKey));
  await once(socket, 'close');
  return Buffer.concat(answer);
}

// --- the `ordo` command as a process ---------------------------------------------------------------

const ORDO = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');

/** Runs a program to completion with `stdin` as its input. */
export function runProgram(file: string, args: readonly string[], stdin = '', env: NodeJS.ProcessEnv = process.env): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code }));
    child.stdin.end(stdin);
  });
}

/** Runs `ordo …args` to completion with `stdin` as its input. */
export function ordo(args: readonly string[], stdin = ''): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return runProgram(process.execPath, [ORDO, ...args], stdin);
}

/** `ordo start` on free ports; resolves with the Postgres port it prints. The caller kills it. */
export async function startOrdo(dataDir: string, ...args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [ORDO, 'start', '--data-dir', dataDir, '--pg-port', '0', '--http-port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ordo start printed no postgres port:\n${output}`)), 15_000);
    child.once('exit', () => reject(new Error(`ordo start exited:\n${output}`)));
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /postgres:\s+postgresql:\/\/\S+:(\d+)\//.exec(output);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  return { child, port };
}

/**
 * A statement compiled by `engine` against the catalog as of now, with its literals bound: submitted
 * later, it shows what happens when a DDL entry is sequenced between planning and running.
 */
export function compiledItem(engine: SqlEngine, sql: string): { plan: ProgramPlan; params: Value[]; sql: string } {
  const prepared = engine.prepare(normalizeSingle(sql) as SplitStatement);
  const p = prepared.plan;
  if (p.kind !== 'program') throw new Error('expected a program');
  return { plan: p, params: engine.bindLiterals(prepared), sql };
}
