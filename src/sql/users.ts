// Configured users of the Postgres server: `users.json` in the data directory maps each user name to
// a SCRAM-SHA-256 verifier in PostgreSQL's pg_authid form (salted and iterated: it can check a proof
// but cannot produce one, and the password itself is never stored). The file is not part of the log:
// users are local to a node's data directory, like pg_hba.conf, and `ordo user add` edits it without
// a running node. The server reads it on every SCRAM login, so a change applies to the next login.

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { OrdoError, SqlState } from '../util/index.js';
import { parseScramVerifier, type ScramVerifier } from './wire/index.js';

export const UsersFile = {
  name: 'users.json',
  formatVersion: 1,
  /** PostgreSQL's NAMEDATALEN − 1. */
  maxNameBytes: 63,
} as const;

/** What `users.json` holds: user name → `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. */
interface UsersDocument {
  readonly version: number;
  readonly users: Readonly<Record<string, string>>;
}

export function usersPath(dataDir: string): string {
  return join(dataDir, UsersFile.name);
}

/** Refuses names PostgreSQL could not hold (empty, over 63 bytes, with a NUL). */
export function checkUserName(name: string): void {
  if (name === '' || name.includes('\0') || Buffer.byteLength(name, 'utf8') > UsersFile.maxNameBytes) {
    throw new OrdoError(SqlState.invalidParameterValue, `invalid user name "${name}": 1 to ${UsersFile.maxNameBytes} bytes, no NUL`);
  }
}

function parseUsers(path: string, text: string): Map<string, string> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new OrdoError(SqlState.configFileError, `${path} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const d = doc as Partial<UsersDocument> | null;
  if (d === null || typeof d !== 'object' || d.version !== UsersFile.formatVersion || typeof d.users !== 'object' || d.users === null) {
    throw new OrdoError(SqlState.configFileError, `${path} is not a version ${UsersFile.formatVersion} users file`);
  }
  const users = new Map<string, string>();
  for (const [name, verifier] of Object.entries(d.users)) {
    if (typeof verifier !== 'string') throw new OrdoError(SqlState.configFileError, `${path}: user "${name}" has no verifier`);
    users.set(name, verifier);
  }
  return users;
}

function missing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Every configured user and its verifier text; empty when the file does not exist. */
export function readUsers(dataDir: string): Map<string, string> {
  const path = usersPath(dataDir);
  try {
    return parseUsers(path, readFileSync(path, 'utf8'));
  } catch (err) {
    if (missing(err)) return new Map();
    throw err;
  }
}

/** The verifier of `user`, or null when there is no such user (or no users file). */
export async function lookupVerifier(dataDir: string, user: string): Promise<ScramVerifier | null> {
  const path = usersPath(dataDir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (missing(err)) return null;
    throw err;
  }
  const verifier = parseUsers(path, text).get(user);
  return verifier === undefined ? null : parseScramVerifier(verifier);
}

/**
 * Replaces the users file atomically: a reader sees the old file or the new one, never half of
 * either, and after a crash the file is one of the two. Written with mode 0600 (a verifier is not a
 * password, but it allows an offline guessing attack on one).
 */
export function writeUsers(dataDir: string, users: ReadonlyMap<string, string>): void {
  const path = usersPath(dataDir);
  const doc: UsersDocument = { version: UsersFile.formatVersion, users: Object.fromEntries([...users].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(doc, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  // The rename is durable only once the directory entry is.
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
