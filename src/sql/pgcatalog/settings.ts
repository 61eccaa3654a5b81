// The settings pg_settings lists and the schema search path the visibility functions follow. Values
// come from the session (CatalogContext.setting); what PostgreSQL says about each setting (unit,
// category, context, type) is fixed here, for the settings OrdoDB's sessions know.

import type { CatalogContext } from '../query/relation.js';

export interface SettingInfo {
  readonly name: string;
  readonly unit: string | null;
  readonly category: string;
  readonly shortDesc: string;
  /** pg_settings.context: internal, postmaster, user, … */
  readonly context: string;
  /** pg_settings.vartype: bool, integer, string, enum. */
  readonly vartype: string;
}

const s = (name: string, vartype: string, context: string, category: string, shortDesc: string, unit: string | null = null): SettingInfo => ({ name, unit, category, shortDesc, context, vartype });

/** In name order, as pg_settings lists them. */
export const SETTING_INFO: readonly SettingInfo[] = [
  s('application_name', 'string', 'user', 'Reporting and Logging / What to Log', 'Sets the application name to be reported in statistics and logs.'),
  s('client_encoding', 'string', 'user', 'Client Connection Defaults / Locale and Formatting', "Sets the client's character set encoding."),
  s('client_min_messages', 'enum', 'user', 'Client Connection Defaults / Statement Behavior', 'Sets the message levels that are sent to the client.'),
  s('DateStyle', 'string', 'user', 'Client Connection Defaults / Locale and Formatting', 'Sets the display format for date and time values.'),
  s('default_transaction_isolation', 'enum', 'user', 'Client Connection Defaults / Statement Behavior', 'Sets the transaction isolation level of each new transaction.'),
  s('extra_float_digits', 'integer', 'user', 'Client Connection Defaults / Locale and Formatting', 'Sets the number of digits displayed for floating-point values.'),
  s('idle_in_transaction_session_timeout', 'integer', 'user', 'Client Connection Defaults / Statement Behavior', 'Sets the maximum allowed idle time between queries, when in a transaction.', 'ms'),
  s('integer_datetimes', 'bool', 'internal', 'Preset Options', 'Shows whether datetimes are integer based.'),
  s('IntervalStyle', 'enum', 'user', 'Client Connection Defaults / Locale and Formatting', 'Sets the display format for interval values.'),
  s('is_superuser', 'bool', 'internal', 'Preset Options', 'Shows whether the current user is a superuser.'),
  s('lock_timeout', 'integer', 'user', 'Client Connection Defaults / Statement Behavior', 'Sets the maximum allowed duration of any wait for a lock.', 'ms'),
  s('max_identifier_length', 'integer', 'internal', 'Preset Options', 'Shows the maximum identifier length.'),
  s('search_path', 'string', 'user', 'Client Connection Defaults / Statement Behavior', 'Sets the schema search order for names that are not schema-qualified.'),
  s('server_encoding', 'string', 'internal', 'Preset Options', 'Shows the server (database) character set encoding.'),
  s('server_version', 'string', 'internal', 'Preset Options', 'Shows the server version.'),
  s('server_version_num', 'integer', 'internal', 'Preset Options', 'Shows the server version as an integer.'),
  s('standard_conforming_strings', 'bool', 'user', 'Version and Platform Compatibility / Previous PostgreSQL Versions', "Causes '...' strings to treat backslashes literally."),
  s('statement_timeout', 'integer', 'user', 'Client Connection Defaults / Statement Behavior', 'Sets the maximum allowed duration of any statement.', 'ms'),
  s('synchronous_commit', 'enum', 'user', 'Write-Ahead Log / Settings', "Sets the current transaction's synchronization level."),
  s('TimeZone', 'string', 'user', 'Client Connection Defaults / Locale and Formatting', 'Sets the time zone for displaying and interpreting time stamps.'),
  s('transaction_isolation', 'enum', 'user', 'Client Connection Defaults / Statement Behavior', "Sets the current transaction's isolation level."),
];

/** The schemas that exist. */
export const SCHEMAS = ['pg_catalog', 'public', 'information_schema'] as const;

/** search_path's schemas that exist, in order ("$user" names a schema only if one has the user's name). */
export function explicitPath(ctx: CatalogContext): string[] {
  const raw = ctx.setting('search_path') ?? '"$user", public';
  const names = raw
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((p) => (p.startsWith('"') && p.endsWith('"') ? p.slice(1, -1).replaceAll('""', '"') : p.toLowerCase()))
    .map((p) => (p === '$user' ? ctx.user : p))
    .filter((p) => (SCHEMAS as readonly string[]).includes(p));
  return [...new Set(names)];
}

/** The effective search path: pg_catalog is searched first unless search_path places it. */
export function searchPath(ctx: CatalogContext): string[] {
  const path = explicitPath(ctx);
  return path.includes('pg_catalog') ? path : ['pg_catalog', ...path];
}

/** current_schema(): the first existing schema of search_path itself (not the implicit pg_catalog). */
export function currentSchema(ctx: CatalogContext): string | null {
  return explicitPath(ctx)[0] ?? null;
}
