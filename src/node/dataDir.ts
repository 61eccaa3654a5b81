// The data directory: its layout, and the lock that keeps two nodes from running on it at once.
//
// LMDB itself lets several processes open one environment, which is right for the read-only tools
// (`ordo log dump`, `ordo checksum`) but wrong for two nodes: both would append to the log. A node
// therefore holds `ordo.pid`, created exclusively; a file left by a process that no longer runs is
// taken over (the pid could have been reused by an unrelated process: then the user is told which pid
// and removes the file by hand). Our own pid in the file means this process already runs a node there.

import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { OrdoError, SqlState } from '../util/index.js';

export const DataDirLayout = {
  lmdbFile: 'ordo.mdb',
  pidFile: 'ordo.pid',
} as const;

export function lmdbPath(dataDir: string): string {
  return join(dataDir, DataDirLayout.lmdbFile);
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A killed node whose parent has not reaped it yet (an orphan under a lazy init) is a zombie: dead.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, { encoding: 'utf8', flag: 'r' }));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return !existsSync('/proc/self/stat'); // no /proc: trust kill(0)
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface DataDirLock {
  release(): void;
}

export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const pidPath = join(dataDir, DataDirLayout.pidFile);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(pidPath, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          rmSync(pidPath, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number.parseInt(readFileSync(pidPath, 'utf8').trim(), 10);
      if (Number.isInteger(owner) && processIsAlive(owner)) {
        throw new OrdoError(
          SqlState.objectInUse,
          `data directory ${dataDir} is in use by another running node (pid ${owner}); stop it first, or remove ${pidPath} if that process is not an OrdoDB node`,
        );
      }
      rmSync(pidPath, { force: true }); // left by a node that is gone
    }
  }
  throw new OrdoError(SqlState.objectInUse, `could not lock data directory ${dataDir}`);
}

/** Opens the node's one LMDB environment (data, meta, checksums and log databases live in it). */
export function openEnvironment(dataDir: string, options: { readOnly?: boolean } = {}): RootDatabase {
  const path = lmdbPath(dataDir);
  if (options.readOnly === true && !existsSync(path)) {
    throw new OrdoError(SqlState.configFileError, `${dataDir} is not an OrdoDB data directory (no ${DataDirLayout.lmdbFile})`);
  }
  if (options.readOnly !== true) mkdirSync(dataDir, { recursive: true });
  return open({ path, maxDbs: 16, readOnly: options.readOnly === true });
}
