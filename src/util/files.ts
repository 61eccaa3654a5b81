// Checksums and file locations shared by every part that persists or ships Avro records.

import { crc32 as zlibCrc32 } from 'node:zlib';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** CRC-32 (IEEE), as zlib computes it: the per-record checksum of the log and the Raft log. */
export function crc32(data: Uint8Array): number {
  return zlibCrc32(data);
}

/**
 * The repository root (the directory holding package.json), found by walking up from this module, so
 * `schemas/` is found the same way from src/ (tests' sources) and dist/src/ (the compiled program).
 */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** A directory under the repository's `schemas/`. */
export function schemaDir(name: string): string {
  return join(repoRoot(), 'schemas', name);
}
