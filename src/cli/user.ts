// `ordo user add` and `ordo user remove`: the users that `ordo start --auth scram` lets in. Only a
// SCRAM-SHA-256 verifier is stored (src/sql/users.ts), never the password.

import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkUserName, readUsers, usersPath, writeUsers } from '../sql/users.js';
import { buildScramVerifier, formatScramVerifier } from '../sql/wire/index.js';
import { StartDefaults } from './start.js';
import { UsageError, parseCommand, requiredString, type CommandSpec } from './args.js';

const dataDirFlag = {
  type: 'string',
  valueName: 'DIR',
  help: 'the data directory of the node (the users file lives there)',
  default: StartDefaults.dataDir,
} as const;

export const userAddSpec: CommandSpec = {
  usage: 'ordo user add --name NAME [--data-dir DIR] [--password-file FILE] [--replace]',
  summary:
    'Adds a user for SCRAM-SHA-256 authentication (ordo start --auth scram). The password is read from --password-file, or from stdin (a prompt without echo on a terminal); one trailing newline is dropped. Only a salted, iterated SCRAM verifier is stored, in users.json in the data directory; a running node uses it from the next login on.',
  flags: {
    name: { type: 'string', valueName: 'NAME', help: 'the user name clients log in with' },
    'data-dir': dataDirFlag,
    'password-file': { type: 'string', valueName: 'FILE', help: 'read the password from this file instead of stdin' },
    replace: { type: 'boolean', help: 'change the password of an existing user (otherwise an existing user is an error)' },
  },
};

export const userRemoveSpec: CommandSpec = {
  usage: 'ordo user remove --name NAME [--data-dir DIR]',
  summary: 'Removes a SCRAM user: its next login fails (sessions already logged in stay).',
  flags: {
    name: { type: 'string', valueName: 'NAME', help: 'the user to remove' },
    'data-dir': dataDirFlag,
  },
};

/** The text minus one trailing newline, as `echo secret |` and editors leave one. */
function withoutTrailingNewline(text: string): string {
  return text.replace(/\r?\n$/, '');
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads one line from the terminal with echo off. */
async function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  let line = '';
  try {
    return await new Promise<string>((resolveLine, reject) => {
      const onData = (text: string): void => {
        for (const ch of text) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData);
            resolveLine(line);
            return;
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            reject(new UsageError('cancelled'));
            return;
          }
          line = ch === '\u007f' || ch === '\b' ? line.slice(0, -1) : line + ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}

async function readPassword(file: string | undefined, name: string): Promise<string> {
  if (file !== undefined) return withoutTrailingNewline(readFileSync(file, 'utf8'));
  if (!process.stdin.isTTY) return withoutTrailingNewline(await readStdin());
  const first = await promptHidden(`Password for user ${name}: `);
  const again = await promptHidden('Enter it again: ');
  if (first !== again) throw new UsageError('the passwords do not match');
  return first;
}

export async function userAdd(argv: readonly string[]): Promise<void> {
  const flags = parseCommand(userAddSpec, argv);
  if (flags === undefined) return;
  const name = requiredString(flags, 'name');
  checkUserName(name);
  const dataDir = resolve(String(flags['data-dir']));
  const file = flags['password-file'];
  mkdirSync(dataDir, { recursive: true });
  const users = readUsers(dataDir);
  const exists = users.has(name);
  if (exists && flags.replace !== true) throw new UsageError(`user "${name}" already exists (--replace changes its password)`);
  const password = await readPassword(typeof file === 'string' ? file : undefined, name);
  if (password === '') throw new UsageError('the password is empty');
  users.set(name, formatScramVerifier(buildScramVerifier(password)));
  writeUsers(dataDir, users);
  process.stdout.write(`${exists ? 'changed the password of' : 'added'} user "${name}" in ${usersPath(dataDir)}\n`);
}

export function userRemove(argv: readonly string[]): void {
  const flags = parseCommand(userRemoveSpec, argv);
  if (flags === undefined) return;
  const name = requiredString(flags, 'name');
  const dataDir = resolve(String(flags['data-dir']));
  const users = readUsers(dataDir);
  if (!users.delete(name)) throw new UsageError(`user "${name}" does not exist in ${usersPath(dataDir)}`);
  writeUsers(dataDir, users);
  process.stdout.write(`removed user "${name}" from ${usersPath(dataDir)}\n`);
}
