// SCRAM-SHA-256 (RFC 5802, RFC 7677), server side, as PostgreSQL speaks it: a state machine that
// turns client-first-message into server-first-message and client-final-message into
// server-final-message, or fails with an OrdoError. No I/O; the nonce source is injected so an
// exchange can be replayed exactly in tests. Channel binding (SCRAM-SHA-256-PLUS) is not offered.

import { isUtf8 } from 'node:buffer';
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { OrdoError } from '../../util/index.js';
import { WireSqlState } from './errors.js';

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
/** PostgreSQL's default scram_iterations. */
export const DEFAULT_SCRAM_ITERATIONS = 4096;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

/** What the server stores instead of a password: it can verify a proof but cannot produce one. */
export interface ScramVerifier {
  readonly iterations: number;
  readonly salt: Uint8Array;
  readonly storedKey: Uint8Array;
  readonly serverKey: Uint8Array;
}

function hmac(key: Uint8Array, data: string | Uint8Array): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/**
 * SASLprep (RFC 4013) reduced to the steps that change bytes, as libpq and node-postgres apply it:
 * non-ASCII spaces become U+0020, "commonly mapped to nothing" characters vanish, then NFKC. Both
 * sides must normalize identically or a non-ASCII password that works with psql fails here.
 */
export function saslPrep(password: string): string {
  let mapped = '';
  for (let i = 0; i < password.length; i++) {
    const c = password.charCodeAt(i);
    if (MAPPED_TO_NOTHING.has(c) || (c >= 0xfe00 && c <= 0xfe0f)) continue;
    mapped += NON_ASCII_SPACE.has(c) || (c >= 0x2000 && c <= 0x200b) ? ' ' : password.charAt(i);
  }
  return mapped.normalize('NFKC');
}

// RFC 3454 table C.1.2 (besides U+2000..U+200B) and table B.1 (besides the variation selectors
// U+FE00..U+FE0F). Sets of code units rather than regex classes: several are combining marks.
const NON_ASCII_SPACE: ReadonlySet<number> = new Set([0x00a0, 0x1680, 0x202f, 0x205f, 0x3000]);
const MAPPED_TO_NOTHING: ReadonlySet<number> = new Set([0x00ad, 0x034f, 0x1806, 0x180b, 0x180c, 0x180d, 0x200c, 0x200d, 0x2060, 0xfeff]);

export interface BuildVerifierOptions {
  readonly iterations?: number;
  /** Random when omitted. */
  readonly salt?: Uint8Array;
}

export function buildScramVerifier(password: string, options: BuildVerifierOptions = {}): ScramVerifier {
  const iterations = options.iterations ?? DEFAULT_SCRAM_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError(`invalid SCRAM iteration count ${iterations}`);
  const salt = options.salt ?? randomBytes(SALT_BYTES);
  const saltedPassword = pbkdf2Sync(saslPrep(password), salt, iterations, KEY_BYTES, 'sha256');
  return {
    iterations,
    salt,
    storedKey: sha256(hmac(saltedPassword, 'Client Key')),
    serverKey: hmac(saltedPassword, 'Server Key'),
  };
}

/** PostgreSQL's pg_authid.rolpassword form: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. */
export function formatScramVerifier(v: ScramVerifier): string {
  const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
  return `${SCRAM_SHA_256}$${v.iterations}:${b64(v.salt)}$${b64(v.storedKey)}:${b64(v.serverKey)}`;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeBase64(text: string): Buffer | null {
  return BASE64.test(text) ? Buffer.from(text, 'base64') : null;
}

/** Parses the stored form; throws 22023 when it is not a well-formed SCRAM-SHA-256 verifier. */
export function parseScramVerifier(text: string): ScramVerifier {
  const m = /^SCRAM-SHA-256\$([1-9][0-9]{0,9}):([^$:]+)\$([^$:]+):([^$:]+)$/.exec(text);
  const salt = m === null ? null : decodeBase64(m[2] as string);
  const storedKey = m === null ? null : decodeBase64(m[3] as string);
  const serverKey = m === null ? null : decodeBase64(m[4] as string);
  const iterations = m === null ? NaN : Number(m[1]);
  if (
    salt === null ||
    storedKey === null ||
    serverKey === null ||
    storedKey.length !== KEY_BYTES ||
    serverKey.length !== KEY_BYTES ||
    iterations > 0x7fffffff
  ) {
    throw new OrdoError(WireSqlState.invalidParameterValue, 'not a valid SCRAM-SHA-256 verifier');
  }
  return { iterations, salt, storedKey, serverKey };
}

export const ScramState = {
  awaitingClientFirst: 'awaitingClientFirst',
  awaitingClientFinal: 'awaitingClientFinal',
  succeeded: 'succeeded',
  failed: 'failed',
} as const;
export type ScramState = (typeof ScramState)[keyof typeof ScramState];

export interface ScramServerOptions {
  /** The user from the StartupMessage (PostgreSQL ignores the SCRAM username attribute). */
  readonly user: string;
  /**
   * The user's verifier, or null when the user does not exist or has no SCRAM password: the exchange
   * then runs to the end with a mock salt and fails with the same 28P01 as a wrong password, so a
   * client cannot probe which users exist.
   */
  readonly verifier: ScramVerifier | null;
  /** The server's nonce part: printable ASCII without ','. Random (18 bytes, base64) by default. */
  readonly nonce?: () => string;
  /** Keys the mock salt of unknown users (a random per-process secret by default). */
  readonly mockSecret?: Uint8Array;
}

function malformed(detail: string): OrdoError {
  return new OrdoError(WireSqlState.protocolViolation, `malformed SCRAM message (${detail})`);
}

function isPrintableNonce(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e || c === 0x2c) return false;
  }
  return true;
}

function messageText(message: string | Uint8Array): string {
  if (typeof message === 'string') return message;
  const bytes = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  // SCRAM attributes are ASCII; anything that is not even UTF-8 is garbage.
  if (!isUtf8(bytes)) throw malformed('invalid UTF-8');
  return bytes.toString('utf8');
}

export class ScramServer {
  private stateNow: ScramState = ScramState.awaitingClientFirst;
  private readonly user: string;
  private readonly verifier: ScramVerifier;
  private readonly mock: boolean;
  private readonly nonceSource: () => string;
  private gs2Header = '';
  private clientFirstBare = '';
  private serverFirst = '';
  private combinedNonce = '';

  constructor(options: ScramServerOptions) {
    this.user = options.user;
    this.mock = options.verifier === null;
    this.verifier = options.verifier ?? mockVerifier(options.user, options.mockSecret ?? PROCESS_MOCK_SECRET);
    this.nonceSource = options.nonce ?? ((): string => randomBytes(18).toString('base64'));
  }

  get state(): ScramState {
    return this.stateNow;
  }

  /** The mechanisms to list in AuthenticationSASL. */
  static readonly mechanisms: readonly string[] = [SCRAM_SHA_256];

  /** client-first-message (the SASLInitialResponse data) → server-first-message (SASLContinue). */
  clientFirst(message: string | Uint8Array): string {
    this.expect(ScramState.awaitingClientFirst);
    try {
      const text = messageText(message);
      const { gs2Header, bare, clientNonce } = parseClientFirst(text);
      const serverNonce = this.nonceSource();
      if (!isPrintableNonce(serverNonce)) throw new Error('invariant violated: the SCRAM nonce source returned a non-printable nonce');
      this.gs2Header = gs2Header;
      this.clientFirstBare = bare;
      this.combinedNonce = clientNonce + serverNonce;
      this.serverFirst = `r=${this.combinedNonce},s=${Buffer.from(this.verifier.salt).toString('base64')},i=${this.verifier.iterations}`;
      this.stateNow = ScramState.awaitingClientFinal;
      return this.serverFirst;
    } catch (err) {
      this.stateNow = ScramState.failed;
      throw err;
    }
  }

  /** client-final-message (SASLResponse data) → server-final-message (SASLFinal), or 28P01. */
  clientFinal(message: string | Uint8Array): string {
    this.expect(ScramState.awaitingClientFinal);
    try {
      const text = messageText(message);
      const proofAt = text.lastIndexOf(',p=');
      if (proofAt === -1) throw malformed('proof missing');
      const withoutProof = text.slice(0, proofAt);
      const proof = decodeBase64(text.slice(proofAt + 3));
      if (proof === null || proof.length !== KEY_BYTES) throw malformed('malformed proof');
      const attrs = withoutProof.split(',');
      const binding = attrs[0] ?? '';
      const nonce = attrs[1] ?? '';
      if (!binding.startsWith('c=')) throw malformed('channel binding attribute expected');
      if (!nonce.startsWith('r=')) throw malformed('nonce attribute expected');
      for (const ext of attrs.slice(2)) if (!/^[A-Za-z]=/.test(ext)) throw malformed('invalid attribute');
      if (binding.slice(2) !== Buffer.from(this.gs2Header).toString('base64')) {
        throw new OrdoError(WireSqlState.protocolViolation, 'SCRAM channel binding check failed');
      }
      if (nonce.slice(2) !== this.combinedNonce) {
        throw new OrdoError(WireSqlState.protocolViolation, 'SCRAM nonce mismatch');
      }
      const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
      const clientSignature = hmac(this.verifier.storedKey, authMessage);
      const clientKey = Buffer.allocUnsafe(KEY_BYTES);
      for (let i = 0; i < KEY_BYTES; i++) clientKey[i] = (proof[i] as number) ^ (clientSignature[i] as number);
      const storedKey = Buffer.from(this.verifier.storedKey);
      const ok = storedKey.length === KEY_BYTES && timingSafeEqual(sha256(clientKey), storedKey);
      if (!ok || this.mock) {
        throw new OrdoError(WireSqlState.invalidPassword, `password authentication failed for user "${this.user}"`);
      }
      this.stateNow = ScramState.succeeded;
      return `v=${hmac(this.verifier.serverKey, authMessage).toString('base64')}`;
    } catch (err) {
      this.stateNow = ScramState.failed;
      throw err;
    }
  }

  private expect(state: ScramState): void {
    if (this.stateNow !== state) {
      this.stateNow = ScramState.failed;
      throw new OrdoError(WireSqlState.protocolViolation, `unexpected SCRAM message (state ${state} expected)`);
    }
  }
}

function parseClientFirst(text: string): { gs2Header: string; bare: string; clientNonce: string } {
  // gs2-header = gs2-cbind-flag "," [ authzid ] ","
  const flag = text.charAt(0);
  if (flag === 'p') {
    throw new OrdoError(
      WireSqlState.protocolViolation,
      'channel binding is not supported: the server offers SCRAM-SHA-256 only, not SCRAM-SHA-256-PLUS',
    );
  }
  // 'y': the client could bind but believes the server cannot, which is true here, so no downgrade.
  if ((flag !== 'n' && flag !== 'y') || text.charAt(1) !== ',') throw malformed('unexpected channel-binding flag');
  if (text.startsWith('a=', 2)) {
    throw new OrdoError(WireSqlState.protocolViolation, 'client uses authorization identity, but it is not supported');
  }
  if (text.charAt(2) !== ',') throw malformed('comma expected after the gs2 header');
  const gs2Header = text.slice(0, 3);
  const bare = text.slice(3);
  const attrs = bare.split(',');
  const user = attrs[0] ?? '';
  const nonce = attrs[1] ?? '';
  if (user.startsWith('m=')) throw new OrdoError(WireSqlState.protocolViolation, 'SCRAM mandatory extensions are not supported');
  if (!user.startsWith('n=')) throw malformed('username attribute expected');
  if (!nonce.startsWith('r=')) throw malformed('nonce attribute expected');
  const clientNonce = nonce.slice(2);
  if (!isPrintableNonce(clientNonce)) throw malformed('invalid nonce');
  for (const ext of attrs.slice(2)) if (!/^[A-Za-z]=/.test(ext)) throw malformed('invalid attribute');
  return { gs2Header, bare, clientNonce };
}

const PROCESS_MOCK_SECRET = randomBytes(32);

/**
 * A fake verifier whose salt is stable per user name and unpredictable without the secret, so asking
 * twice, or comparing with a formula, does not tell a missing user from a real one.
 */
function mockVerifier(user: string, secret: Uint8Array): ScramVerifier {
  const salt = hmac(secret, `mock salt\0${user}`).subarray(0, SALT_BYTES);
  return { iterations: DEFAULT_SCRAM_ITERATIONS, salt, storedKey: Buffer.alloc(KEY_BYTES), serverKey: Buffer.alloc(KEY_BYTES) };
}
