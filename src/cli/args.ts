// Argument parsing shared by the `ordo` commands: node:util's parseArgs plus the checks every command
// needs (integers, required flags) and `--help` text that lists every flag. A command may also take its
// flags from a JSON config file (a flag marked `configFile`): its keys are the flag names in camelCase,
// and a flag given on the command line wins over the file.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { OrdoError, SqlState, errorMessage } from '../util/index.js';

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly help: string;
  readonly default?: string;
  readonly valueName?: string;
  /** This flag names a JSON file holding values for the command's other flags. */
  readonly configFile?: boolean;
  /** Not accepted in a config file (a one-time action that must not repeat on every start). */
  readonly commandLineOnly?: boolean;
  /** A KEY=VALUE,... list; in a config file it may also be written as an object {"KEY": "VALUE"}. */
  readonly keyValueList?: boolean;
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
  const configFlag = names.find((n) => spec.flags[n]?.configFile === true);
  if (configFlag !== undefined) {
    lines.push(
      '',
      `--${configFlag} FILE is a JSON object whose keys are the flags above in camelCase; flags given on the command line win over the file, and an unknown key is an error. Keys: ${configKeys(spec).join(', ')}.`,
    );
  }
  return lines.join('\n');
}

const camelCase = (flag: string): string => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The config file keys of a command, in flag order. */
function configKeys(spec: CommandSpec): string[] {
  return Object.entries(spec.flags)
    .filter(([, f]) => f.configFile !== true && f.commandLineOnly !== true)
    .map(([name]) => camelCase(name));
}

/** The flag value a config file's JSON value stands for; throws naming the key when it has the wrong type. */
function configValue(path: string, key: string, flag: FlagSpec, value: unknown): string | boolean {
  if (flag.type === 'boolean') {
    if (typeof value === 'boolean') return value;
    throw new UsageError(`config file ${path}: "${key}" must be true or false`);
  }
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (flag.keyValueList === true && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const items = Object.entries(value as Record<string, unknown>).map(([k, v]) => {
      if (typeof v !== 'string') throw new UsageError(`config file ${path}: "${key}.${k}" must be a string`);
      return `${k}=${v}`;
    });
    return items.join(',');
  }
  throw new UsageError(`config file ${path}: "${key}" must be a ${flag.keyValueList === true ? 'string or an object of strings' : 'string or a number'}`);
}

/** Reads a command's config file into flag values (by flag name). */
function readConfigFile(spec: CommandSpec, path: string): ParsedFlags {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`config file ${path} cannot be read as JSON: ${errorMessage(err)}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError(`config file ${path} must hold a JSON object`);
  const byKey = new Map(Object.entries(spec.flags).map(([name, flag]) => [camelCase(name), { name, flag }]));
  const known = configKeys(spec);
  const values: ParsedFlags = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    const entry = byKey.get(key);
    if (entry !== undefined && !known.includes(key)) throw new UsageError(`config file ${path}: "${key}" is accepted on the command line only (--${entry.name})`);
    if (entry === undefined) throw new UsageError(`config file ${path}: unknown key "${key}" (known keys: ${known.join(', ')})`);
    values[entry.name] = configValue(path, key, entry.flag, value);
  }
  return values;
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
    const path = values[name];
    if (flag.configFile !== true || typeof path !== 'string') continue;
    values = { ...readConfigFile(spec, path), ...Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) };
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
