#!/usr/bin/env node
// Makes a fresh checkout runnable: installs dependencies when the lockfile changed since the last
// install, then compiles. Uses only Node built-ins because it runs before node_modules exists.
//
// `npm install`, not `npm ci`: the registry this project installs from lacks some other platforms'
// optional prebuilt packages (e.g. msgpackr-extract for darwin), which npm then leaves out of the
// lockfile, and `npm ci` refuses such a lockfile as out of sync. `npm install` still installs the
// locked versions.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lockPath = join(root, 'package-lock.json');
const stampPath = join(root, 'node_modules', '.ordo-install-stamp');
const lockHash = () => createHash('sha256').update(readFileSync(lockPath)).digest('hex');
const installed = existsSync(stampPath) ? readFileSync(stampPath, 'utf8') : '';
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

if (installed !== lockHash()) {
  process.stderr.write('ordo setup: installing dependencies (npm install)\n');
  execFileSync(npm, ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, stdio: 'inherit' });
  // Hash after installing: npm may have normalized the lockfile.
  writeFileSync(stampPath, lockHash());
}
execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root], {
  cwd: root,
  stdio: 'inherit',
});
