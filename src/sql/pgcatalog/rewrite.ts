// psql's catalog queries use a few constructs node-sql-parser (postgresql dialect) cannot read. This
// rewrites them into parseable text with the same meaning, before parsing:
//   - `OPERATOR(pg_catalog.~)`                → `~` (the schema-qualified operator syntax)
//   - `COLLATE pg_catalog.default`, `"C"`,
//     `"POSIX"`                               → removed: OrdoDB compares text by code point, which is
//                                                what these collations mean here
//   - `::pg_catalog.regclass`                 → `::regclass` (schema-qualified type names in casts)
//   - `::int2[]`, `::int4[]`, `::int8[]`      → `::smallint[]`, … (the parser misreads intN[])
//   - `::name`                                → `::text` (the parser does not know the name type;
//                                                name is text limited to 63 bytes)
//   - `a[b]` with a non-literal subscript     → `ordo_array_element(a, b)` (the parser reads only
//                                                literal subscripts; the function is in functions.ts)
// Everything else, string literals and quoted identifiers included, is left byte for byte.

type TokenKind = 'space' | 'comment' | 'string' | 'quoted' | 'word' | 'number' | 'op' | 'punct';

interface Token {
  readonly kind: TokenKind;
  readonly text: string;
}

const TOKEN = new RegExp(
  [
    String.raw`(?<space>\s+)`,
    String.raw`(?<comment>--[^\n]*|/\*[\s\S]*?\*/)`,
    // E'…' strings take backslash escapes; standard strings only double their quotes.
    String.raw`(?<string>[eE]'(?:[^'\\]|\\[\s\S]|'')*'|'(?:[^']|'')*')`,
    String.raw`(?<quoted>"(?:[^"]|"")*")`,
    String.raw`(?<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)`,
    String.raw`(?<word>[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*)`,
    String.raw`(?<op>::|[+\-*/<>=~!@#%^&|\x60?]+)`,
    String.raw`(?<punct>[\s\S])`,
  ].join('|'),
  'y',
);

function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < sql.length) {
    const m = TOKEN.exec(sql);
    if (m === null || m.groups === undefined) break;
    const entry = Object.entries(m.groups).find(([, v]) => v !== undefined);
    tokens.push({ kind: (entry?.[0] ?? 'punct') as TokenKind, text: entry?.[1] ?? m[0] });
  }
  return tokens;
}

const isWord = (t: Token | undefined, w?: string): boolean => t?.kind === 'word' && (w === undefined || t.text.toLowerCase() === w);
const isText = (t: Token | undefined, s: string): boolean => t?.text === s;

/** Index of the next token that is not whitespace or a comment, at or after i. */
function skip(tokens: readonly Token[], i: number): number {
  let j = i;
  while (j < tokens.length && (tokens[j]?.kind === 'space' || tokens[j]?.kind === 'comment')) j++;
  return j;
}

const IGNORED_COLLATIONS = new Set(['default', 'c', 'posix', '"default"', '"c"', '"posix"']);
const INT_ARRAY_TYPES: Readonly<Record<string, string>> = { int2: 'smallint', int4: 'integer', int8: 'bigint' };

/** `OPERATOR ( schema . op )` starting at i: the operator and the index after `)`, or null. */
function qualifiedOperator(tokens: readonly Token[], i: number): { op: string; end: number } | null {
  let j = skip(tokens, i + 1);
  if (!isText(tokens[j], '(')) return null;
  j = skip(tokens, j + 1);
  if (isWord(tokens[j])) {
    j = skip(tokens, j + 1);
    if (!isText(tokens[j], '.')) return null;
    j = skip(tokens, j + 1);
  }
  let op = '';
  while (j < tokens.length && (tokens[j]?.kind === 'op' || (tokens[j]?.kind === 'punct' && tokens[j]?.text !== ')'))) op += tokens[j++]?.text ?? '';
  j = skip(tokens, j);
  if (op === '' || !isText(tokens[j], ')')) return null;
  return { op, end: j + 1 };
}

/** `COLLATE [pg_catalog.]<ignored collation>` starting at i: the index after it, or null. */
function ignoredCollate(tokens: readonly Token[], i: number): number | null {
  let j = skip(tokens, i + 1);
  if (isWord(tokens[j], 'pg_catalog') || isText(tokens[j], '"pg_catalog"')) {
    const dot = skip(tokens, j + 1);
    if (!isText(tokens[dot], '.')) return null;
    j = skip(tokens, dot + 1);
  }
  const name = tokens[j];
  if (name === undefined || !IGNORED_COLLATIONS.has(name.text.toLowerCase())) return null;
  return j + 1;
}

/** Where the identifier chain (a, a.b, "A".b) that ends just before `end` starts in `out`. */
function chainStart(out: readonly Token[], end: number): number | null {
  let i = end - 1;
  if (!(out[i]?.kind === 'word' || out[i]?.kind === 'quoted')) return null;
  while (i >= 2 && isText(out[i - 1], '.') && (out[i - 2]?.kind === 'word' || out[i - 2]?.kind === 'quoted')) i -= 2;
  return i;
}

/** Index of the last token at or before i in `out` that is not whitespace or a comment (-1 when none). */
function skipBack(out: readonly Token[], i: number): number {
  let j = i;
  while (j >= 0 && (out[j]?.kind === 'space' || out[j]?.kind === 'comment')) j--;
  return j;
}

/** Rewrites psql's catalog queries into text node-sql-parser reads, with the same meaning. */
export function rewritePsqlQuery(sql: string): string {
  const tokens = tokenize(sql);
  const out: Token[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as Token;
    if (isWord(t, 'operator')) {
      const q = qualifiedOperator(tokens, i);
      if (q !== null) {
        out.push({ kind: 'op', text: q.op });
        i = q.end - 1;
        continue;
      }
    }
    if (isWord(t, 'collate')) {
      const end = ignoredCollate(tokens, i);
      if (end !== null) {
        while (out.length > 0 && out.at(-1)?.kind === 'space') out.pop();
        i = end - 1;
        continue;
      }
    }
    if (isText(t, '::')) {
      out.push(t);
      let j = skip(tokens, i + 1);
      if (isWord(tokens[j], 'pg_catalog') && isText(tokens[skip(tokens, j + 1)], '.')) j = skip(tokens, skip(tokens, j + 1) + 1);
      const type = tokens[j];
      if (type === undefined) continue;
      const lower = type.text.toLowerCase();
      const arrayAfter = isText(tokens[skip(tokens, j + 1)], '[');
      if (type.kind === 'word' && arrayAfter && INT_ARRAY_TYPES[lower] !== undefined) out.push({ kind: 'word', text: INT_ARRAY_TYPES[lower] });
      else if (type.kind === 'word' && lower === 'name') out.push({ kind: 'word', text: 'text' });
      else out.push(type);
      i = j;
      continue;
    }
    if (isText(t, '[')) {
      // a[b]: everything up to the matching ] is the subscript; a literal one the parser reads itself.
      const close = tokens.findIndex((x, k) => k > i && isText(x, ']'));
      const start = chainStart(out, out.length);
      const inner = close < 0 ? [] : tokens.slice(i + 1, close);
      const significant = inner.filter((x) => x.kind !== 'space' && x.kind !== 'comment');
      const literal = significant.length === 1 && significant[0]?.kind === 'number';
      // Not a subscript: a type's [] (`::int[]`), an ARRAY[…] constructor, a slice or a nested subscript.
      const subscript =
        close > i && start !== null && significant.length > 0 && !literal && !isText(out[skipBack(out, start - 1)], '::') &&
        !(start === out.length - 1 && isWord(out[start], 'array')) && !significant.some((x) => isText(x, '[') || isText(x, ':') || isText(x, ','));
      if (subscript) {
        const operand = out.splice(start).map((x) => x.text).join('');
        const index = rewritePsqlQuery(inner.map((x) => x.text).join(''));
        out.push({ kind: 'word', text: `ordo_array_element(${operand}, ${index.trim()})` });
        i = close;
        continue;
      }
    }
    out.push(t);
  }
  return out.map((x) => x.text).join('');
}
