// A throwaway PostgreSQL cluster for bench/pgbench.ts, so that OrdoDB is measured against a real
// PostgreSQL on the same machine in the same run rather than against figures from another day.
// initdb into a fresh temporary directory, trust authentication, listening on 127.0.0.1 only, and
// otherwise PostgreSQL's defaults: fsync stays on, since OrdoDB flushes every batch too.

import { execFile } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../src/cli/cluster.js';
import { errorMessage } from '../src/util/index.js';

const run = promisify(execFile);

export const LocalPostgresDefaults = {
  binDir: '/usr/lib/postgresql/15/bin',
  host: '127.0.0.1',
  /** The database superuser initdb creates, as on a packaged PostgreSQL. */
  user: 'postgres',
  /** PostgreSQL refuses to run as root; as root its commands run as this OS user. */
  osUser: 'postgres',
  /**
   * Scale 1 is about 25 MB, so this keeps every page cached with room to spare, as on any tuned server;
   * the 128 MB default would too, and a 2-core machine has no use for more.
   */
  sharedBuffers: '256MB',
  startTimeoutSec: 60,
  stopTimeoutSec: 60,
  logTailLines: 20,
} as const;

/** Why no cluster can be started from `binDir`, or null when it can. */
export function missingBinaries(binDir: string): string | null {
  const missing = ['initdb', 'pg_ctl', 'postgres'].filter((name) => !existsSync(join(binDir, name)));
  return missing.length === 0 ? null : `no ${missing.join(', ')} in ${binDir}`;
}

const asRoot = process.getuid?.() === 0;

async function runAsServerUser(command: string, args: readonly string[]): Promise<void> {
  if (asRoot) await run('runuser', ['-u', LocalPostgresDefaults.osUser, '--', command, ...args]);
  else await run(command, [...args]);
}

async function idOf(flag: '-u' | '-g'): Promise<number> {
  return Number((await run('id', [flag, LocalPostgresDefaults.osUser])).stdout.trim());
}

/**
 * One throwaway cluster. The constructor only creates its directory, so that the caller can register
 * stop() for an interrupt before start() begins anything that would outlive this process.
 */
export class LocalPostgres {
  readonly host = LocalPostgresDefaults.host;
  readonly user = LocalPostgresDefaults.user;
  readonly dir = mkdtempSync(join(tmpdir(), 'ordo-pgbench-postgres-'));
  private readonly dataDir = join(this.dir, 'data');
  private readonly logFile = join(this.dir, 'postgres.log');
  private starting: Promise<number> | undefined;
  private stopped: Promise<void> | undefined;

  constructor(private readonly binDir: string) {}

  /** initdb, then pg_ctl start on a free port; resolves to the port once the server accepts connections. */
  start(): Promise<number> {
    this.starting = this.initAndStart();
    return this.starting;
  }

  private async initAndStart(): Promise<number> {
    // After stop() has begun, each step is the last: stop() waits for it, then undoes what it did.
    const unlessStopping = (): void => {
      if (this.stopped !== undefined) throw new Error('stopped while starting');
    };
    try {
      // The server user writes the cluster into the directory made for it.
      if (asRoot) chownSync(this.dir, await idOf('-u'), await idOf('-g'));
      await runAsServerUser(join(this.binDir, 'initdb'), ['-D', this.dataDir, '-U', this.user, '--auth=trust', '-E', 'UTF8', '--locale=C']);
      unlessStopping();
      const port = await freePort(this.host);
      // Appended to initdb's postgresql.conf, so the later lines win and SHOW reports them as from the file.
      const settings = { listen_addresses: `'${this.host}'`, port: String(port), unix_socket_directories: `'${this.dir}'`, shared_buffers: LocalPostgresDefaults.sharedBuffers };
      appendFileSync(join(this.dataDir, 'postgresql.conf'), `\n# bench/localPostgres.ts\n${Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
      unlessStopping();
      await runAsServerUser(join(this.binDir, 'pg_ctl'), ['-D', this.dataDir, '-l', this.logFile, '-w', '-t', String(LocalPostgresDefaults.startTimeoutSec), 'start']);
      return port;
    } catch (err) {
      throw new Error(`could not start a local PostgreSQL in ${this.dir}: ${errorMessage(err)}\n${this.logTail()}`, { cause: err });
    }
  }

  /** Stops the server if it runs and removes its directory; every call after the first waits for the first. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      // initdb or pg_ctl start may be running (a signal came): removing the directory under them fails.
      await this.starting?.catch(() => undefined);
      try {
        if (existsSync(join(this.dataDir, 'postmaster.pid'))) await this.pgCtlStop();
      } finally {
        rmSync(this.dir, { recursive: true, force: true });
      }
    })();
    return this.stopped;
  }

  private async pgCtlStop(): Promise<void> {
    const stop = (mode: 'fast' | 'immediate'): Promise<void> =>
      runAsServerUser(join(this.binDir, 'pg_ctl'), ['-D', this.dataDir, '-m', mode, '-w', '-t', String(LocalPostgresDefaults.stopTimeoutSec), 'stop']);
    try {
      await stop('fast');
    } catch {
      // A fast shutdown waits for the checkpoint; the directory is deleted next, so nothing needs it.
      await stop('immediate');
    }
  }

  private logTail(): string {
    if (!existsSync(this.logFile)) return '';
    return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-LocalPostgresDefaults.logTailLines).join('\n');
  }
}
