// One client connection: the PostgreSQL v3 protocol state machine on top of the wire codecs and the
// statement engine. Messages are handled strictly one at a time in arrival order (each may wait for
// the log), with reading paused while too many are queued.
//
// Transactions: every statement outside a block is its own deterministic transaction; the statements
// of one simple Query message run as ONE transaction (PostgreSQL's implicit transaction of a
// multi-statement message), and so does a BEGIN … COMMIT block inside one message. A BEGIN whose
// COMMIT is not in the same message opens an interactive transaction (interactive.ts, ADR 0004):
// statements run at the committed state with writes buffered, and COMMIT validates and re-executes.
//
// Authentication is trust, or SCRAM-SHA-256 against the verifiers the server looks up (users.ts).
// A CancelRequest (on another connection, matched by the server) cancels the running statement while
// it is still cancellable: before it is handed to the sequencer, while a read waits for its read
// index, and between chunks of rows it streams out (ADR 0003, "Cancel").

import type { Socket } from 'node:net';
import type { Value } from '../partitions/index.js';
import { OrdoError, SqlState, errorMessage } from '../util/index.js';
import type { ProgramPlan, ResultColumn } from './compile.js';
import { bindText, bindWire, describeError, type Prepared, type SqlEngine, type StatementResult } from './engine.js';
import { normalizeSingle, splitAndNormalize, utilityTokens, type SplitStatement } from './normalize.js';
import { pgType, typeModifier, SqlStateX } from './types.js';
import { InteractiveTxn, transactionStatus } from './interactive.js';
import { CopyInDecoder, CopyLimits, encodeCopyRow, parseCopy, type CopyStatement } from './copy.js';
import {
  BackendWriter,
  FrontendKind,
  FrontendParser,
  ProtocolError,
  SCRAM_SHA_256,
  ScramServer,
  ScramState,
  TypeOid,
  WireSqlState,
  decodeParam,
  decodeSaslInitialResponse,
  encodeCell,
  formatCodeAt,
  type BindMessage,
  type FieldDescription,
  type FrontendMessage,
  type ParseMessage,
  type ScramVerifier,
  type StartupMessage,
} from './wire/index.js';

export const SessionLimits = {
  /** Reading pauses while this many messages wait to be handled. */
  maxQueuedMessages: 1_000,
  maxPreparedStatements: 10_000,
  maxPortals: 1_000,
  /** Output waiting for a Sync is written once it grows past this, so a long pipeline stays bounded. */
  maxUnsentBytes: 64 * 1024,
  /** PostgreSQL's authentication_timeout: a connection that has not logged in by then is closed, so
   *  silent connections cannot hold every connection slot. */
  authenticationTimeoutMs: 60_000,
} as const;

/** Settings a client sees at startup and may SET; those marked `report` are re-sent on change. */
const SETTINGS: Readonly<Record<string, { value: string; report: boolean; fixed?: readonly string[] }>> = {
  server_version: { value: '15.0 (OrdoDB)', report: true, fixed: [] },
  server_version_num: { value: '150000', report: false, fixed: [] },
  server_encoding: { value: 'UTF8', report: true, fixed: [] },
  client_encoding: { value: 'UTF8', report: true, fixed: ['UTF8', 'UTF-8', 'UNICODE'] },
  DateStyle: { value: 'ISO, MDY', report: true, fixed: ['ISO', 'ISO, MDY', 'ISO,MDY'] },
  IntervalStyle: { value: 'postgres', report: true, fixed: ['postgres'] },
  integer_datetimes: { value: 'on', report: true, fixed: [] },
  standard_conforming_strings: { value: 'on', report: true, fixed: ['on'] },
  TimeZone: { value: 'UTC', report: true, fixed: ['UTC', 'Etc/UTC', 'GMT', 'Z'] },
  is_superuser: { value: 'on', report: true, fixed: [] },
  application_name: { value: '', report: true },
  search_path: { value: '"$user", public', report: false },
  extra_float_digits: { value: '1', report: false },
  statement_timeout: { value: '0', report: false },
  lock_timeout: { value: '0', report: false },
  idle_in_transaction_session_timeout: { value: '0', report: false },
  transaction_isolation: { value: 'serializable', report: false, fixed: ['serializable'] },
  default_transaction_isolation: { value: 'serializable', report: false, fixed: ['serializable'] },
  synchronous_commit: { value: 'on', report: false },
  client_min_messages: { value: 'notice', report: false },
  max_identifier_length: { value: '63', report: false, fixed: [] },
};

/** Case-insensitive lookup of a setting's canonical name. */
function settingName(name: string): string | undefined {
  const lower = name.toLowerCase();
  return Object.keys(SETTINGS).find((k) => k.toLowerCase() === lower);
}

interface PreparedStatement {
  readonly sql: string;
  /** null: an empty statement. */
  readonly split: SplitStatement | null;
  readonly declaredOids: readonly number[];
  prepared: Prepared | null;
  /** Recognized without the parser (SET, SHOW, BEGIN, …). */
  readonly utility: boolean;
}

interface Portal {
  readonly statement: PreparedStatement;
  readonly params: readonly Value[];
  readonly resultFormats: readonly number[];
  result: StatementResult | null;
  sent: number;
}

const UTILITY = new Set(['BEGIN', 'START', 'COMMIT', 'END', 'ROLLBACK', 'ABORT', 'SET', 'SHOW', 'RESET', 'VACUUM', 'ANALYZE', 'DISCARD', 'DEALLOCATE']);

export interface SessionOptions {
  readonly engine: SqlEngine;
  /** BackendKeyData: what a CancelRequest for this session must carry. */
  readonly processId: number;
  readonly secretKey: number;
  /** null: trust authentication. Otherwise SCRAM-SHA-256 with the verifier this returns for the
   *  user (null for an unknown user, who goes through the same exchange and fails the same way). */
  readonly verifierOf: ((user: string) => Promise<ScramVerifier | null>) | null;
  readonly authenticationTimeoutMs?: number;
  /** A CancelRequest arrived on this connection; the server finds the session it names. */
  readonly onCancelRequest?: (processId: number, secretKey: number) => void;
  /** Called once when the connection is gone. */
  readonly onClose?: () => void;
}

function failedBlock(): OrdoError {
  return new OrdoError('25P02', 'current transaction is aborted, commands ignored until end of transaction block');
}

function canceled(why: 'user request' | 'statement timeout'): OrdoError {
  return new OrdoError(SqlState.queryCanceled, `canceling statement due to ${why}`);
}

const TIME_UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** A time setting as PostgreSQL reads it: a number of milliseconds, or a number with a unit. */
function settingMs(name: string, value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h|d)?\s*$/.exec(value);
  const ms = m === null ? NaN : Number(m[1]) * (TIME_UNITS_MS[m[2] ?? 'ms'] ?? NaN);
  if (!Number.isFinite(ms) || ms > 0x7fffffff) throw new OrdoError(SqlState.invalidParameterValue, `invalid value for parameter "${name}": "${value}"`);
  return Math.round(ms);
}

/** Authentication errors end the connection: as a ProtocolError, the pump sends them as FATAL. */
function fatal(err: unknown): ProtocolError {
  if (err instanceof ProtocolError) return err;
  return new ProtocolError(err instanceof OrdoError ? err.code : SqlState.internalError, errorMessage(err));
}

/** Thrown to stop a statement whose client has gone; nobody sees it. */
class ConnectionGone extends Error {}

export class Session {
  private readonly parser = new FrontendParser();
  private readonly out = new BackendWriter();
  private readonly queue: FrontendMessage[] = [];
  private running = false;
  private closed = false;
  private skipUntilSync = false;
  private user = 'postgres';
  /** False until AuthenticationOk: only authentication messages are accepted before it. */
  private loggedIn = false;
  /** The SCRAM exchange between StartupMessage and AuthenticationOk. */
  private scram: ScramServer | null = null;
  private readonly authTimer: NodeJS.Timeout;
  /** The running statement's cancellation; null when nothing cancellable runs (idle, or a write was
   *  handed to the sequencer: the log cannot un-order it, so it and the rest of its message complete). */
  private cancellation: AbortController | null = null;
  /** statement_timeout of the running statement. */
  private statementTimer: NodeJS.Timeout | null = null;
  private readonly settings = new Map<string, string>();
  /** The database named at startup (PostgreSQL's default: the user name). */
  private database = 'postgres';
  private readonly statements = new Map<string, PreparedStatement>();
  private readonly portals = new Map<string, Portal>();
  private readonly engine: SqlEngine;
  /** The open interactive transaction block, if any. Lives only here: a vanished client leaves nothing. */
  private txn: InteractiveTxn | null = null;
  /** COPY FROM STDIN in progress: input is decoded and loaded in batches as it streams in. */
  private copyIn: { readonly stmt: CopyStatement; readonly decoder: CopyInDecoder; readonly insert: (n: number) => Prepared; rows: (string | null)[][]; count: number } | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly options: SessionOptions,
  ) {
    this.engine = options.engine;
    for (const [k, v] of Object.entries(SETTINGS)) this.settings.set(k, v.value);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.closed = true;
      this.queue.length = 0;
      clearTimeout(this.authTimer);
      options.onClose?.();
    });
    this.authTimer = setTimeout(() => {
      this.out.reset();
      this.closeConnection({ code: WireSqlState.protocolViolation, message: 'canceling authentication due to timeout' });
    }, options.authenticationTimeoutMs ?? SessionLimits.authenticationTimeoutMs);
    this.authTimer.unref();
  }

  /**
   * Cancels the running statement if it is still cancellable; otherwise does nothing, as PostgreSQL
   * ignores a cancel that arrives when the statement is done. Called for a CancelRequest with this
   * session's key.
   */
  cancel(): void {
    this.abortStatement(canceled('user request'));
  }

  private abortStatement(reason: OrdoError): void {
    if (this.cancellation === null) return;
    this.cancellation.abort(reason);
    // A running statement notices at its next check. One that is not running is a COPY FROM STDIN
    // waiting for the client's next data: nothing else would notice.
    if (this.running) return;
    this.failCanceledCopy();
    if (this.out.byteLength > 0 && !this.closed) this.socket.write(this.out.flush());
  }

  /**
   * Writes what is pending (and a FATAL error, if given) and closes. The socket is destroyed once that
   * is written, so a client that never closes its side cannot keep the connection.
   */
  private closeConnection(fatal: { readonly code: string; readonly message: string } | null): void {
    if (fatal !== null) this.out.errorResponse({ severity: 'FATAL', ...fatal });
    this.closed = true;
    this.socket.end(this.out.flush(), () => this.socket.destroy());
  }

  private checkCanceled(): void {
    const signal = this.cancellation?.signal;
    if (signal?.aborted === true) throw signal.reason as OrdoError;
  }

  /** A statement starts: cancellable, and bounded by statement_timeout. */
  private beginStatement(): void {
    this.cancellation = new AbortController();
    const timeoutMs = settingMs('statement_timeout', this.settings.get('statement_timeout') ?? '0');
    if (timeoutMs > 0) this.statementTimer = setTimeout(() => this.abortStatement(canceled('statement timeout')), timeoutMs);
  }

  /** The statement is over, or runs to completion from here on. */
  private endStatement(): void {
    this.cancellation = null;
    if (this.statementTimer !== null) clearTimeout(this.statementTimer);
    this.statementTimer = null;
  }

  /** From here on the running statement completes: it is about to be handed to the sequencer. */
  private uncancellable(): void {
    this.checkCanceled();
    this.endStatement();
  }

  /** `p` (which has no effects) or 57014 as soon as the statement is cancelled, whichever is first. */
  private abortable<T>(p: Promise<T>): Promise<T> {
    const signal = this.cancellation?.signal;
    if (signal === undefined) return p;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason as OrdoError);
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  /** Writes the output so far and waits while the client is behind on reading it. */
  private async drain(): Promise<void> {
    if (this.closed) throw new ConnectionGone();
    if (this.out.byteLength > 0) this.socket.write(this.out.flush());
    if (!this.socket.writableNeedDrain) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
    if (this.closed) throw new ConnectionGone();
  }

  private onData(chunk: Buffer): void {
    try {
      // CopyData may alias the parser's buffers; it is handled later, so it gets its own copy.
      this.parser.push(chunk, (m) => this.queue.push(m.kind === FrontendKind.copyData ? { kind: m.kind, data: Buffer.from(m.data) } : m));
    } catch (err) {
      // A malformed stream cannot be resynchronized: tell this client why and close only this connection.
      const code = err instanceof ProtocolError ? err.code : '08P01';
      this.queue.length = 0;
      this.out.reset();
      this.closeConnection({ code, message: errorMessage(err) });
      return;
    }
    if (this.queue.length >= SessionLimits.maxQueuedMessages) this.socket.pause();
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (!this.closed && this.queue.length > 0) {
        const m = this.queue.shift() as FrontendMessage;
        if ((m.kind === FrontendKind.query || m.kind === FrontendKind.execute) && !this.skipUntilSync) this.beginStatement();
        try {
          await this.handle(m);
        } catch (err) {
          if (err instanceof ConnectionGone) return;
          if (err instanceof ProtocolError) {
            this.closeConnection({ code: err.code, message: err.message });
            return;
          }
          this.sendError(err);
          if (m.kind !== FrontendKind.query && m.kind !== FrontendKind.sync) this.skipUntilSync = true;
        }
        // A COPY FROM STDIN stays cancellable while it waits for more data; anything else is done.
        if (this.copyIn === null) this.endStatement();
        else this.failCanceledCopy();
        if (this.queue.length < SessionLimits.maxQueuedMessages / 2 && this.socket.isPaused()) this.socket.resume();
        // One socket write per Query or Sync rather than per message: Parse/Bind/Describe/Execute/Sync
        // in one packet get one answer packet. Output is also written whenever nothing else is queued
        // (a Flush, or a client waiting on a message without Sync), so nothing is held back.
        const boundary = m.kind === FrontendKind.query || m.kind === FrontendKind.sync || m.kind === FrontendKind.flush || this.queue.length === 0;
        // Waiting for a client that does not read its results bounds what this connection buffers:
        // meanwhile its queue fills and reading from it pauses.
        if (!this.closed && (boundary || this.out.byteLength >= SessionLimits.maxUnsentBytes)) await this.drain();
      }
    } catch (err) {
      if (!(err instanceof ConnectionGone)) throw err;
    } finally {
      this.running = false;
    }
  }

  private sendError(err: unknown): void {
    // PostgreSQL: an error inside a transaction block fails the block until ROLLBACK.
    if (this.txn !== null) this.txn.failed = true;
    const e = describeError(err);
    this.out.errorResponse({
      severity: 'ERROR',
      code: e.code,
      message: e.message,
      ...(e.position === undefined ? {} : { position: e.position }),
      ...(e.detail === undefined ? {} : { detail: e.detail }),
    });
  }

  private async handle(m: FrontendMessage): Promise<void> {
    switch (m.kind) {
      case FrontendKind.sslRequest:
      case FrontendKind.gssEncRequest:
        this.out.encryptionResponse('N');
        return;
      case FrontendKind.cancelRequest:
        this.options.onCancelRequest?.(m.processId, m.secretKey);
        // No answer either way, as in PostgreSQL: a client cannot probe for keys.
        this.closeConnection(null);
        return;
      case FrontendKind.startup:
        await this.startup(m);
        return;
      case FrontendKind.authResponse:
        this.authenticate(m.payload);
        return;
      case FrontendKind.terminate:
        this.closeConnection(null);
        return;
      default:
        break;
    }
    if (!this.loggedIn) throw new ProtocolError(WireSqlState.protocolViolation, `expected a SASL response, got a ${m.kind} message`);
    if (this.copyIn !== null && m.kind !== FrontendKind.copyData && m.kind !== FrontendKind.copyDone && m.kind !== FrontendKind.copyFail) {
      // PostgreSQL ignores Flush and Sync during COPY FROM STDIN and fails the COPY on anything else
      // (which is consumed): the client gets its ReadyForQuery instead of waiting for one forever.
      if (m.kind === FrontendKind.flush || m.kind === FrontendKind.sync) return;
      this.endCopyIn(new OrdoError(WireSqlState.protocolViolation, `unexpected ${m.kind} message during COPY from stdin`));
      return;
    }
    switch (m.kind) {
      case FrontendKind.copyData:
      case FrontendKind.copyDone:
      case FrontendKind.copyFail:
        // Outside COPY (for instance after a COPY failed) these are ignored, as PostgreSQL does.
        if (this.copyIn !== null) await this.copyMessage(m);
        return;
      case FrontendKind.sync:
        this.skipUntilSync = false;
        this.portals.clear();
        this.out.readyForQuery(transactionStatus(this.txn));
        return;
      case FrontendKind.flush:
        return;
      default:
        break;
    }
    // Everything up to the Sync after an extended-protocol error is discarded, a Query too.
    if (this.skipUntilSync) return;
    switch (m.kind) {
      case FrontendKind.query:
        await this.simpleQuery(m.sql);
        return;
      case FrontendKind.parse:
        this.parse(m);
        this.out.parseComplete();
        return;
      case FrontendKind.bind:
        this.bind(m);
        this.out.bindComplete();
        return;
      case FrontendKind.describe:
        this.describe(m.target, m.name);
        return;
      case FrontendKind.execute:
        await this.execute(m.portal, m.maxRows);
        return;
      case FrontendKind.close:
        if (m.target === 'S') this.statements.delete(m.name);
        else this.portals.delete(m.name);
        this.out.closeComplete();
        return;
    }
  }

  private async startup(m: StartupMessage): Promise<void> {
    const parameters = m.parameters;
    this.user = parameters.get('user') ?? 'postgres';
    this.database = parameters.get('database') ?? this.user;
    const app = parameters.get('application_name');
    if (app !== undefined) this.settings.set('application_name', app);
    const encoding = parameters.get('client_encoding');
    if (encoding !== undefined && !['UTF8', 'UTF-8', 'UNICODE'].includes(encoding.toUpperCase())) {
      throw new ProtocolError('22023', `client_encoding ${encoding} is not supported: only UTF8`);
    }
    this.settings.set('session_authorization', this.user);
    // A client asking for a newer 3.x or for protocol options must be told what it got, or it would
    // rely on features this server does not have.
    const options = [...parameters.keys()].filter((k) => k.startsWith('_pq_.'));
    if (m.protocolMinor > 0 || options.length > 0) this.out.negotiateProtocolVersion(0, options);
    if (this.options.verifierOf === null) {
      // Trust authentication: the embedded default, as a fresh PostgreSQL allows locally.
      this.logIn();
      return;
    }
    let verifier: ScramVerifier | null;
    try {
      verifier = await this.options.verifierOf(this.user);
    } catch (err) {
      throw fatal(err);
    }
    this.scram = new ScramServer({ user: this.user, verifier });
    this.out.authenticationSasl(ScramServer.mechanisms);
  }

  /** A SASLInitialResponse or SASLResponse of the SCRAM exchange; any failure closes the connection. */
  private authenticate(payload: Uint8Array): void {
    const scram = this.scram;
    if (scram === null) throw new ProtocolError(WireSqlState.protocolViolation, 'unexpected authentication response');
    try {
      if (scram.state === ScramState.awaitingClientFirst) {
        const first = decodeSaslInitialResponse(payload);
        if (first.mechanism !== SCRAM_SHA_256) throw new OrdoError(WireSqlState.protocolViolation, 'client selected an invalid SASL authentication mechanism');
        if (first.data === null) throw new OrdoError(WireSqlState.protocolViolation, 'the SASL initial response has no data');
        this.out.authenticationSaslContinue(scram.clientFirst(first.data));
        return;
      }
      this.out.authenticationSaslFinal(scram.clientFinal(payload));
    } catch (err) {
      throw fatal(err);
    }
    this.scram = null;
    this.logIn();
  }

  private logIn(): void {
    this.loggedIn = true;
    clearTimeout(this.authTimer);
    this.out.authenticationOk();
    for (const [name, s] of Object.entries(SETTINGS)) if (s.report) this.out.parameterStatus(name, this.settings.get(name) ?? s.value);
    this.out.parameterStatus('session_authorization', this.user);
    this.out.backendKeyData(this.options.processId, this.options.secretKey);
    this.out.readyForQuery('I');
  }

  // --- simple query ----------------------------------------------------------------------------

  private async simpleQuery(sql: string): Promise<void> {
    try {
      await this.runSimple(sql);
    } catch (err) {
      this.copyIn = null;
      this.sendError(err);
    }
    // COPY FROM STDIN: ReadyForQuery comes when the copy ends.
    if (this.copyIn === null) this.out.readyForQuery(transactionStatus(this.txn));
  }

  private async runSimple(sql: string): Promise<void> {
    const stmts = splitAndNormalize(sql);
    if (stmts.length === 0) {
      this.out.emptyQueryResponse();
      return;
    }
    let group: { plan: ProgramPlan; params: Value[]; sql: string }[] = [];
    let inBlock = false;
    const flush = async (): Promise<void> => {
      if (group.length === 0) return;
      const items = group;
      group = [];
      const results = await this.run(items);
      for (const r of results) await this.sendResult(r, []);
    };
    for (let si = 0; si < stmts.length; si++) {
      const st = stmts[si] as SplitStatement;
      if (st.firstWord === 'COPY' || st.firstWord === 'TRUNCATE') {
        // Bulk operations run at once as their own transactions, even inside a block (ADR 0004).
        if (this.txn?.failed === true) throw failedBlock();
        await flush();
        if (st.firstWord === 'TRUNCATE') {
          await this.sendResult(await this.truncate(st), []);
          continue;
        }
        const copy = parseCopy(st.text);
        if (copy.direction === 'to') {
          await this.copyOut(copy);
          continue;
        }
        if (si !== stmts.length - 1) throw new OrdoError(SqlState.featureNotSupported, 'COPY FROM STDIN must be the last statement of its message');
        this.startCopyIn(copy);
        return;
      }
      if (this.txn !== null) {
        await this.sendResult(await this.interactive(st, null), []);
        continue;
      }
      if (UTILITY.has(st.firstWord)) {
        const w = st.firstWord;
        if ((w === 'BEGIN' || w === 'START') && !inBlock && !closesBlock(stmts, si + 1)) {
          // No COMMIT in this message: an interactive transaction.
          await flush();
          this.txn = new InteractiveTxn(this.engine);
          this.out.commandComplete('BEGIN');
          continue;
        }
        if (w === 'BEGIN' || w === 'START') {
          if (inBlock) {
            this.out.noticeResponse({ severity: 'WARNING', code: '25001', message: 'there is already a transaction in progress' });
          }
          await flush();
          inBlock = true;
          this.out.commandComplete('BEGIN');
          continue;
        }
        if (w === 'COMMIT' || w === 'END') {
          await flush();
          if (!inBlock) this.out.noticeResponse({ severity: 'WARNING', code: '25P01', message: 'there is no transaction in progress' });
          inBlock = false;
          this.out.commandComplete('COMMIT');
          continue;
        }
        if (w === 'ROLLBACK' || w === 'ABORT') {
          if (inBlock) throw new OrdoError(SqlState.featureNotSupported, 'ROLLBACK of a transaction block is not supported yet (the block is run as one deterministic transaction; end it with COMMIT)');
          this.out.noticeResponse({ severity: 'WARNING', code: '25P01', message: 'there is no transaction in progress' });
          this.out.commandComplete('ROLLBACK');
          continue;
        }
        if (inBlock) throw new OrdoError(SqlState.featureNotSupported, `${w} inside a transaction block is not supported yet`);
        await flush();
        await this.sendResult(this.utility(st), []);
        continue;
      }
      const prepared = this.engine.prepare(st);
      const plan = prepared.plan;
      if (plan.kind !== 'program') {
        if (inBlock) throw new OrdoError(SqlState.featureNotSupported, 'DDL inside a transaction block is not supported yet');
        await flush();
        this.uncancellable();
        await this.sendResult(await this.engine.runDdl(plan, st.text, this.user), []);
        continue;
      }
      group.push({ plan, params: this.engine.bindLiterals(prepared), sql: st.text });
    }
    await flush();
  }

  /**
   * Runs program statements as one transaction. A read stays cancellable while it waits (abandoning
   * it has no effect); a write, once handed to the sequencer, completes.
   */
  private async run(items: readonly { plan: ProgramPlan; params: readonly Value[]; sql: string }[]): Promise<StatementResult[]> {
    this.checkCanceled();
    // [query engine] Catalog functions see the session's database and settings.
    if (items.every((i) => i.plan.readOnly)) return this.abortable(this.engine.runTransaction(items, this.user, { database: this.database, setting: (name) => this.settings.get(name) }));
    this.uncancellable();
    return this.engine.runTransaction(items, this.user);
  }

  /**
   * Sends a result's rows from `fromRow` (at most `maxRows`, 0 for all) and its CommandComplete, or
   * PortalSuspended when rows remain. Returns true when complete. Simple queries send RowDescription
   * first; the extended protocol sends it at Describe.
   */
  private async sendResult(r: StatementResult, formats: readonly number[], describe = true, fromRow = 0, maxRows = 0): Promise<boolean> {
    const columns = r.columns;
    if (columns !== null && describe) this.out.rowDescription(fieldsOf(columns, formats));
    const end = maxRows > 0 ? Math.min(r.rows.length, fromRow + maxRows) : r.rows.length;
    if (columns !== null) {
      const fmts = columns.map((_, i) => formatCodeAt(formats, i, columns.length));
      for (let i = fromRow; i < end; i++) {
        const row = r.rows[i] as readonly Value[];
        this.out.dataRow(columns.map((c, j) => encodeCell(pgType(c.type).oid, fmts[j] ?? 0, row[j] ?? null)));
        if (this.out.byteLength >= SessionLimits.maxUnsentBytes) await this.streamed();
      }
    }
    if (end < r.rows.length) {
      this.out.portalSuspended();
      return false;
    }
    // As in PostgreSQL, a result fetched by several Executes counts in each tag the rows that Execute sent.
    this.out.commandComplete(columns === null ? r.tag : r.tag.replace(/\d+$/, String(end - fromRow)));
    return true;
  }

  /** A chunk of a long result is out: wait for a slow client, and stop here if cancelled. */
  private async streamed(): Promise<void> {
    await this.drain();
    this.checkCanceled();
  }

  // --- TRUNCATE and COPY -----------------------------------------------------------------------

  /** TRUNCATE [TABLE] [ONLY] a, b … [RESTART|CONTINUE IDENTITY] [CASCADE|RESTRICT]: one transaction deleting every row. */
  private async truncate(st: SplitStatement): Promise<StatementResult> {
    const toks = utilityTokens(st.text).slice(1).filter((t) => t.text !== ';');
    const names: string[] = [];
    for (let i = 0; i < toks.length; i++) {
      const t = toks[i];
      if (t === undefined) break;
      const w = t.text.toLowerCase();
      if (t.kind !== 'qident' && (w === 'table' || w === 'only' || w === ',')) continue;
      if (t.kind !== 'qident' && (w === 'restart' || w === 'continue')) {
        i += 1;
        continue;
      }
      if (t.kind !== 'qident' && w === 'cascade') throw new OrdoError(SqlState.featureNotSupported, 'TRUNCATE … CASCADE');
      if (t.kind !== 'qident' && w === 'restrict') continue;
      if (toks[i + 1]?.text === '.') continue;
      if (t.text === '.') continue;
      names.push(t.kind === 'qident' ? t.text.slice(1, -1) : w);
    }
    if (names.length === 0) throw new OrdoError(SqlStateX.syntaxError, 'syntax error: TRUNCATE needs a table name');
    const items = names.map((n) => {
      const split = normalizeSingle(`delete from ${quoteIdent(n)}`) as SplitStatement;
      const plan = this.engine.prepare(split).plan;
      if (plan.kind !== 'program') throw new OrdoError(SqlState.internalError, 'TRUNCATE compiled to DDL');
      return { plan, params: [] as Value[], sql: st.text };
    });
    await this.run(items);
    return { columns: null, rows: [], tag: 'TRUNCATE TABLE' };
  }

  private copyColumns(copy: CopyStatement): readonly string[] {
    const table = this.engine.catalog().catalog.tables.find((t) => t.name === copy.table);
    if (table === undefined) throw new OrdoError(SqlStateX.undefinedTable, `relation "${copy.table}" does not exist`);
    const names = table.columns.map((c) => c.name);
    for (const c of copy.columns ?? []) if (!names.includes(c)) throw new OrdoError('42703', `column "${c}" of relation "${copy.table}" does not exist`);
    return copy.columns ?? names;
  }

  private startCopyIn(copy: CopyStatement): void {
    const columns = this.copyColumns(copy);
    const head = `insert into ${quoteIdent(copy.table)} (${columns.map(quoteIdent).join(', ')}) values `;
    // One plan per batch size (the full batch and the last one), found in the plan cache after the first.
    const insert = (n: number): Prepared => {
      const tuples: string[] = [];
      for (let r = 0; r < n; r++) tuples.push(`(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`);
      return this.engine.prepare(normalizeSingle(head + tuples.join(', ')) as SplitStatement);
    };
    this.copyIn = { stmt: copy, decoder: new CopyInDecoder(copy), insert, rows: [], count: 0 };
    // Cancellable between batches even after an earlier write of its message: a failed COPY keeps
    // the batches it loaded (ADR 0004), a cancelled one too.
    if (this.cancellation === null) this.beginStatement();
    this.out.copyInResponse(0, columns.map(() => 0));
  }

  private async copyMessage(m: FrontendMessage): Promise<void> {
    const copy = this.copyIn;
    if (copy === null) return;
    try {
      if (m.kind === FrontendKind.copyFail) throw new OrdoError('57014', `COPY from stdin failed: ${m.message}`);
      if (m.kind === FrontendKind.copyData) {
        copy.decoder.push(m.data, copy.rows);
        while (copy.rows.length >= CopyLimits.rowsPerBatch) await this.loadRows(copy, copy.rows.splice(0, CopyLimits.rowsPerBatch));
        return;
      }
      if (m.kind !== FrontendKind.copyDone) return;
      copy.decoder.end(copy.rows);
      while (copy.rows.length > 0) await this.loadRows(copy, copy.rows.splice(0, CopyLimits.rowsPerBatch));
      this.copyIn = null;
      this.out.commandComplete(`COPY ${copy.count}`);
      this.out.readyForQuery(transactionStatus(this.txn));
    } catch (err) {
      this.endCopyIn(err);
    }
  }

  private endCopyIn(err: unknown): void {
    this.copyIn = null;
    this.endStatement();
    this.sendError(err);
    this.out.readyForQuery(transactionStatus(this.txn));
  }

  private failCanceledCopy(): void {
    const signal = this.cancellation?.signal;
    if (this.copyIn !== null && signal?.aborted === true) this.endCopyIn(signal.reason);
  }

  private async loadRows(copy: NonNullable<Session['copyIn']>, rows: (string | null)[][]): Promise<void> {
    this.checkCanceled();
    const prepared = copy.insert(rows.length);
    const plan = prepared.plan;
    if (plan.kind !== 'program') throw new OrdoError(SqlState.internalError, 'COPY compiled to DDL');
    const width = rows.length === 0 ? 0 : plan.params.length / rows.length;
    const params: Value[] = [];
    rows.forEach((row, r) => {
      if (row.length !== width) throw new OrdoError('22P04', `${row.length < width ? 'missing data for column' : 'extra data after last expected column'} (row ${copy.count + r + 1})`);
      row.forEach((f, c) => {
        const slot = plan.params[r * width + c];
        params.push(f === null || slot === undefined ? null : bindText(slot.type, f, false));
      });
    });
    await this.engine.runTransaction([{ plan, params, sql: `COPY ${copy.stmt.table} FROM STDIN (${rows.length} rows)` }], this.user);
    copy.count += rows.length;
  }

  private async copyOut(copy: CopyStatement): Promise<void> {
    const columns = this.copyColumns(copy);
    const split = normalizeSingle(`select ${columns.map(quoteIdent).join(', ')} from ${quoteIdent(copy.table)}`) as SplitStatement;
    const prepared = this.engine.prepare(split);
    const plan = prepared.plan;
    if (plan.kind !== 'program') throw new OrdoError(SqlState.internalError, 'COPY TO compiled to DDL');
    const result = this.txn !== null ? this.txn.run(plan, [], split.text) : ((await this.run([{ plan, params: [], sql: split.text }]))[0] as StatementResult);
    const cols = result.columns ?? [];
    this.out.copyOutResponse(0, cols.map(() => 0));
    if (copy.header) this.out.copyData(encodeCopyRow(copy, cols.map((c) => c.name)));
    for (const row of result.rows) {
      this.out.copyData(encodeCopyRow(copy, cols.map((c, i) => {
        const cell = encodeCell(pgType(c.type).oid, 0, row[i] ?? null);
        return cell === null ? null : typeof cell === 'string' ? cell : Buffer.from(cell).toString('utf8');
      })));
      if (this.out.byteLength >= SessionLimits.maxUnsentBytes) await this.streamed();
    }
    this.out.copyDone();
    this.out.commandComplete(`COPY ${result.rows.length}`);
  }

  // --- interactive transactions ----------------------------------------------------------------

  /**
   * Runs one statement inside the open interactive transaction. `bound` carries an extended-protocol
   * statement's plan and parameters; simple-query statements are prepared from their text.
   */
  private async interactive(st: SplitStatement, bound: { prepared: Prepared | null; params: readonly Value[] } | null): Promise<StatementResult> {
    const txn = this.txn as InteractiveTxn;
    const w = st.firstWord;
    if (w === 'COMMIT' || w === 'END') {
      this.txn = null;
      if (txn.failed) return { columns: null, rows: [], tag: 'ROLLBACK' };
      this.uncancellable();
      await txn.commit(this.user);
      return { columns: null, rows: [], tag: 'COMMIT' };
    }
    if (w === 'ROLLBACK' || w === 'ABORT') {
      this.txn = null;
      return { columns: null, rows: [], tag: 'ROLLBACK' };
    }
    if (txn.failed) throw failedBlock();
    if (w === 'BEGIN' || w === 'START') {
      this.out.noticeResponse({ severity: 'WARNING', code: '25001', message: 'there is already a transaction in progress' });
      return { columns: null, rows: [], tag: 'BEGIN' };
    }
    if (UTILITY.has(w)) {
      if (w === 'VACUUM') throw new OrdoError('25001', 'VACUUM cannot run inside a transaction block');
      return this.utility(st);
    }
    const prepared = bound === null ? this.engine.prepare(st) : bound.prepared;
    if (prepared === null) throw new OrdoError(SqlState.internalError, 'statement has no plan');
    const plan = prepared.plan;
    if (plan.kind !== 'program') throw new OrdoError(SqlState.featureNotSupported, 'DDL inside a transaction block is not supported yet');
    const params = bound === null ? this.engine.bindLiterals(prepared) : bound.params;
    return txn.run(plan, params, st.text);
  }

  // --- utility statements ----------------------------------------------------------------------

  private utility(st: SplitStatement): StatementResult {
    const toks = utilityTokens(st.text);
    const word = (i: number): string => (toks[i]?.kind === 'word' ? (toks[i]?.text ?? '').toLowerCase() : (toks[i]?.value ?? ''));
    switch (st.firstWord) {
      case 'VACUUM':
      case 'ANALYZE':
        return { columns: null, rows: [], tag: st.firstWord };
      case 'DISCARD':
        this.statements.clear();
        this.portals.clear();
        return { columns: null, rows: [], tag: 'DISCARD ALL' };
      case 'DEALLOCATE': {
        const name = word(1) === 'prepare' ? word(2) : word(1);
        if (name === 'all') this.statements.clear();
        else this.statements.delete(name);
        return { columns: null, rows: [], tag: 'DEALLOCATE' };
      }
      case 'SHOW': {
        const name = word(1);
        if (name === 'all') {
          const rows = [...this.settings.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, v, '']);
          const text = { name: 'text' as const, length: null, scale: null };
          return {
            columns: [
              { name: 'name', type: text, tableId: 0, attr: 0 },
              { name: 'setting', type: text, tableId: 0, attr: 0 },
              { name: 'description', type: text, tableId: 0, attr: 0 },
            ],
            rows,
            tag: 'SHOW',
          };
        }
        const key = name === 'transaction' && word(2) === 'isolation' ? 'transaction_isolation' : name;
        const canonical = settingName(key) ?? [...this.settings.keys()].find((k) => k.toLowerCase() === key);
        if (canonical === undefined) throw new OrdoError(SqlStateX.undefinedObject, `unrecognized configuration parameter "${name}"`);
        return { columns: [{ name: canonical.toLowerCase() === canonical ? canonical : canonical.toLowerCase(), type: { name: 'text', length: null, scale: null }, tableId: 0, attr: 0 }], rows: [[this.settings.get(canonical) ?? '']], tag: 'SHOW' };
      }
      case 'RESET': {
        const name = word(1);
        if (name === 'all') {
          for (const [k, v] of Object.entries(SETTINGS)) this.setSetting(k, v.value);
        } else {
          const canonical = settingName(name);
          if (canonical === undefined) throw new OrdoError(SqlStateX.undefinedObject, `unrecognized configuration parameter "${name}"`);
          this.setSetting(canonical, SETTINGS[canonical]?.value ?? '');
        }
        return { columns: null, rows: [], tag: 'RESET' };
      }
      default: {
        // SET [SESSION | LOCAL] name { TO | = } value [, …] | SET TIME ZONE value | SET TRANSACTION …
        let i = 1;
        if (word(i) === 'session' || word(i) === 'local') i++;
        if (word(i) === 'transaction' || word(i) === 'characteristics') {
          // Every transaction is serializable already; other modes are accepted as no-ops only when they ask for that.
          const rest = toks.slice(i).map((t) => t.text.toLowerCase()).join(' ');
          if (/isolation level (read committed|read uncommitted|repeatable read)/.test(rest)) {
            // PostgreSQL upgrades nothing, but running at a stronger level than asked is always allowed.
          }
          return { columns: null, rows: [], tag: 'SET' };
        }
        let name: string;
        if (word(i) === 'time' && word(i + 1) === 'zone') {
          name = 'TimeZone';
          i += 2;
        } else {
          name = toks[i]?.kind === 'qident' ? (toks[i]?.text ?? '').slice(1, -1) : word(i);
          i++;
          if (word(i) === 'to' || word(i) === '=') i++;
        }
        const values = toks.slice(i).filter((t) => t.text !== ',').map((t) => t.value);
        const value = values.join(', ');
        if (value === '') throw new OrdoError(SqlStateX.syntaxError, `syntax error: SET ${name} needs a value`);
        const canonical = settingName(name) ?? (name.includes('.') ? name : undefined);
        if (canonical === undefined) throw new OrdoError(SqlStateX.undefinedObject, `unrecognized configuration parameter "${name}"`);
        const spec = SETTINGS[canonical];
        const v = value.toLowerCase() === 'default' ? (spec?.value ?? '') : value;
        if (spec?.fixed !== undefined) {
          if (spec.fixed.length === 0) throw new OrdoError('55P02', `parameter "${canonical}" cannot be changed`);
          if (!spec.fixed.some((f) => f.toLowerCase() === v.toLowerCase())) {
            throw new OrdoError(SqlState.featureNotSupported, `${canonical} = '${v}' is not supported (only ${spec.fixed[0] ?? ''})`);
          }
          this.setSetting(canonical, spec.value);
        } else this.setSetting(canonical, v);
        return { columns: null, rows: [], tag: 'SET' };
      }
    }
  }

  private setSetting(name: string, value: string): void {
    if (name === 'statement_timeout') settingMs(name, value);
    const before = this.settings.get(name);
    this.settings.set(name, value);
    if (before !== value && SETTINGS[name]?.report === true) this.out.parameterStatus(name, value);
  }

  // --- extended query --------------------------------------------------------------------------

  private parse(m: ParseMessage): void {
    if (m.statement !== '' && this.statements.has(m.statement)) {
      throw new OrdoError('42P05', `prepared statement "${m.statement}" already exists`);
    }
    if (this.statements.size >= SessionLimits.maxPreparedStatements) {
      throw new OrdoError('54000', `more than ${SessionLimits.maxPreparedStatements} prepared statements`);
    }
    const split = normalizeSingle(m.sql);
    if (split?.firstWord === 'COPY') throw new OrdoError(SqlState.featureNotSupported, 'COPY is supported in a simple Query message only, not through Parse/Bind/Execute');
    // TRUNCATE has no plan of its own: Execute runs it as simple Query does.
    const utility = split !== null && (UTILITY.has(split.firstWord) || split.firstWord === 'TRUNCATE');
    const prepared = split === null || utility ? null : this.engine.prepare(split, m.paramTypeOids);
    this.statements.set(m.statement, { sql: m.sql, split, declaredOids: m.paramTypeOids, prepared, utility });
  }

  /** The statement's plan, recompiled when the catalog changed since it was prepared. */
  private current(st: PreparedStatement): Prepared | null {
    if (st.prepared === null || st.split === null) return null;
    if (st.prepared.catalogVersion !== this.engine.catalog().version) st.prepared = this.engine.prepare(st.split, st.declaredOids);
    return st.prepared;
  }

  private bind(m: BindMessage): void {
    const st = this.statements.get(m.statement);
    if (st === undefined) throw new OrdoError('26000', `prepared statement "${m.statement}" does not exist`);
    const prepared = this.current(st);
    const allSlots = prepared?.plan.kind === 'program' ? prepared.plan.params : [];
    // Literals the normalizer lifted out of the statement's text (it does so only when the text has no
    // $n) are plan slots too, but the client knows nothing of them: they take the text's own values.
    const slots = allSlots.filter((s) => s.literal === null);
    if (m.params.length !== slots.length) {
      throw new OrdoError('08P01', `bind message supplies ${m.params.length} parameters, but prepared statement "${m.statement}" requires ${slots.length}`);
    }
    const clientParams = m.params.map((bytes, i) => {
      const slot = slots[i];
      const fmt = formatCodeAt(m.paramFormats, i, m.params.length);
      if (slot === undefined) return null;
      if (fmt === 0 && bytes !== null && slot.type !== null && slot.type.name === 'numeric') {
        return bindText(slot.type, Buffer.from(bytes).toString('utf8'), slot.exact);
      }
      // An unresolved parameter is text, as Describe reports it, in either format.
      const oid = slot.type === null ? TypeOid.text : pgType(slot.type).oid;
      return bindWire(slot.type, decodeParam(oid, fmt, bytes), slot.exact);
    });
    let next = 0;
    // The plan is shared by every text of this shape: the values come from this statement's own literals.
    const literals = prepared?.statement.literals ?? [];
    const params =
      slots.length === allSlots.length ? clientParams : allSlots.map((s, i) => (s.literal === null ? (clientParams[next++] ?? null) : bindText(s.type, literals[i]?.text ?? '', s.exact)));
    if (m.portal !== '' && this.portals.has(m.portal)) throw new OrdoError('42P03', `cursor "${m.portal}" already exists`);
    if (this.portals.size >= SessionLimits.maxPortals) throw new OrdoError('54000', `more than ${SessionLimits.maxPortals} portals`);
    // Validate the result formats now, as PostgreSQL does at Bind.
    const columns = prepared?.plan.kind === 'program' ? prepared.plan.columns : null;
    if (columns !== null) for (let i = 0; i < columns.length; i++) formatCodeAt(m.resultFormats, i, columns.length);
    this.portals.set(m.portal, { statement: st, params, resultFormats: m.resultFormats, result: null, sent: 0 });
  }

  private describe(target: 'S' | 'P', name: string): void {
    if (target === 'S') {
      const st = this.statements.get(name);
      if (st === undefined) throw new OrdoError('26000', `prepared statement "${name}" does not exist`);
      const prepared = this.current(st);
      const plan = prepared?.plan;
      this.out.parameterDescription(plan?.kind === 'program' ? plan.params.filter((s) => s.literal === null).map((s) => (s.type === null ? TypeOid.text : pgType(s.type).oid)) : []);
      const columns = plan?.kind === 'program' ? plan.columns : st.utility && st.split?.firstWord === 'SHOW' ? showColumns(st.split) : null;
      if (columns === null) this.out.noData();
      else this.out.rowDescription(fieldsOf(columns, []));
      return;
    }
    const portal = this.portals.get(name);
    if (portal === undefined) throw new OrdoError('34000', `portal "${name}" does not exist`);
    const plan = portal.statement.prepared?.plan;
    const columns = plan?.kind === 'program' ? plan.columns : portal.statement.split?.firstWord === 'SHOW' ? showColumns(portal.statement.split) : null;
    if (columns === null) this.out.noData();
    else this.out.rowDescription(fieldsOf(columns, portal.resultFormats));
  }

  private async execute(name: string, maxRows: number): Promise<void> {
    const portal = this.portals.get(name);
    if (portal === undefined) throw new OrdoError('34000', `portal "${name}" does not exist`);
    const st = portal.statement;
    if (portal.result === null) {
      if (st.split === null) {
        this.out.emptyQueryResponse();
        return;
      }
      if (st.split.firstWord === 'TRUNCATE') {
        if (this.txn?.failed === true) throw failedBlock();
        portal.result = await this.truncate(st.split);
      } else if (this.txn !== null) portal.result = await this.interactive(st.split, st.utility ? null : { prepared: this.current(st), params: portal.params });
      else if (st.utility) portal.result = await this.extendedUtility(st.split);
      else {
        const prepared = this.current(st);
        const plan = prepared?.plan;
        if (plan === undefined) throw new OrdoError(SqlState.internalError, 'statement has no plan');
        if (plan.kind === 'program') {
          const results = await this.run([{ plan, params: portal.params, sql: st.sql }]);
          portal.result = results[0] ?? null;
        } else {
          this.uncancellable();
          portal.result = await this.engine.runDdl(plan, st.sql, this.user);
        }
      }
    }
    const result = portal.result;
    if (result === null) return;
    // RowDescription was sent by Describe; Execute sends only rows.
    const done = await this.sendResult(result, portal.resultFormats, false, portal.sent, maxRows > 0 ? maxRows : 0);
    portal.sent = done ? result.rows.length : portal.sent + maxRows;
  }

  private async extendedUtility(st: SplitStatement): Promise<StatementResult> {
    const w = st.firstWord;
    if (w === 'BEGIN' || w === 'START') {
      this.txn = new InteractiveTxn(this.engine);
      return { columns: null, rows: [], tag: 'BEGIN' };
    }
    if (w === 'COMMIT' || w === 'END' || w === 'ROLLBACK' || w === 'ABORT') {
      this.out.noticeResponse({ severity: 'WARNING', code: '25P01', message: 'there is no transaction in progress' });
      return { columns: null, rows: [], tag: w === 'COMMIT' || w === 'END' ? 'COMMIT' : 'ROLLBACK' };
    }
    return this.utility(st);
  }
}


function showColumns(st: SplitStatement): ResultColumn[] {
  const name = utilityTokens(st.text)[1]?.text.toLowerCase() ?? '';
  return [{ name, type: { name: 'text', length: null, scale: null }, tableId: 0, attr: 0 }];
}

function fieldsOf(columns: readonly ResultColumn[], formats: readonly number[]): FieldDescription[] {
  return columns.map((c, i) => {
    const info = pgType(c.type);
    return {
      name: c.name,
      tableOid: c.tableId,
      columnAttr: c.attr,
      typeOid: info.oid,
      typeSize: info.size,
      typeModifier: typeModifier(c.type),
      format: formatCodeAt(formats, i, columns.length),
    };
  });
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** True when a statement from `from` on ends the block (so the block runs as one deterministic transaction). */
function closesBlock(stmts: readonly SplitStatement[], from: number): boolean {
  for (let i = from; i < stmts.length; i++) {
    const w = stmts[i]?.firstWord ?? '';
    if (w === 'COMMIT' || w === 'END' || w === 'ROLLBACK' || w === 'ABORT') return true;
    if (w === 'BEGIN' || w === 'START') return false;
  }
  return false;
}
