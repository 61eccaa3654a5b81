// Argument parsing shared by the `ordo` commands: node:util's parseArgs plus the checks every command
// needs (integers, required flags) and `--help` text that lists every flag.

import { parseArgs } from 'node:util';
import { OrdoError, SqlState } from '../util/index.js';

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly help: string;
  readonly default?: string;
  readonly valueName?: string;
}

export interface CommandSpec {
  readonly usage: string;
  readonly summary: string;
  readonly flags: Readonly<Record<string, FlagSpec>>;
}

export class UsageError extends OrdoError {
  constructor(message: string) {
    super(SqlState.invalidParameterValue, message);
    this.name = 'UsageError';
  }
}

export function helpText(spec: CommandSpec): string {
  const lines = [`usage: ${spec.usage}`, '', spec.summary, '', 'flags:'];
  const names = Object.keys(spec.flags);
  const width = Math.max(...names.map((n) => n.length + (spec.flags[n]?.valueName?.length ?? 0) + 4), 10);
  for (const name of names) {
    const flag = spec.flags[name];
    if (flag === undefined) continue;
    const left = flag.type === 'string' ? `--${name} ${flag.valueName ?? 'VALUE'}` : `--${name}`;
    const def = flag.default === undefined ? '' : ` (default: ${flag.default})`;
    lines.push(`  ${left.padEnd(width + 2)}${flag.help}${def}`);
  }
  lines.push(`  ${'--help'.padEnd(width + 2)}print this help and exit`);
  return lines.join('\n');
}

export type ParsedFlags = Record<string, string | boolean | undefined>;

/** Parses argv for one command; returns undefined after printing help when --help was given. */
export function parseCommand(spec: CommandSpec, argv: readonly string[]): ParsedFlags | undefined {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const [name, flag] of Object.entries(spec.flags)) options[name] = { type: flag.type };
  let values: ParsedFlags;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values as ParsedFlags;
  } catch (err) {
    throw new UsageError(`${err instanceof Error ? err.message : String(err)}\n\n${helpText(spec)}`);
  }
  if (values.help === true) {
    process.stdout.write(`${helpText(spec)}\n`);
    return undefined;
  }
  for (const [name, flag] of Object.entries(spec.flags)) {
    if (values[name] === undefined && flag.default !== undefined) {
      values[name] = flag.type === 'boolean' ? flag.default === 'true' : flag.default;
    }
  }
  return values;
}

export function requiredString(flags: ParsedFlags, name: string): string {
  const v = flags[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

export function optionalInt(flags: ParsedFlags, name: string, min: number): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^-?\d+$/.test(v)) throw new UsageError(`--${name} must be an integer, got '${String(v)}'`);
  const n = Number.parseInt(v, 10);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got ${v}`);
  return n;
}

export function optionalNumber(flags: ParsedFlags, name: string, min: number, max: number): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const n = typeof v === 'string' ? Number(v) : Number.NaN;
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a number between ${min} and ${max}, got '${String(v)}'`);
  }
  return n;
}
