// The PostgreSQL v3 wire protocol as pure codecs: frontend parser, backend serializer, SCRAM-SHA-256
// server, and the type formats. The session and the TCP server build on these.

export { ProtocolError, WireSqlState } from './errors.js';
export {
  FrontendParser,
  FrontendKind,
  FrontendPhase,
  StartupCode,
  MAX_STARTUP_PACKET_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  formatCodeAt,
  decodePasswordMessage,
  decodeSaslInitialResponse,
  decodeSaslResponse,
} from './frontend.js';
export type {
  FrontendMessage,
  FrontendMessageHandler,
  FrontendParserOptions,
  TargetType,
  StartupMessage,
  SslRequestMessage,
  GssEncRequestMessage,
  CancelRequestMessage,
  QueryMessage,
  ParseMessage,
  BindMessage,
  DescribeMessage,
  ExecuteMessage,
  SyncMessage,
  FlushMessage,
  CloseMessage,
  TerminateMessage,
  CopyDataMessage,
  CopyDoneMessage,
  CopyFailMessage,
  AuthResponseMessage,
  SaslInitialResponse,
} from './frontend.js';
export { BackendWriter, FormatCode } from './backend.js';
export type { TransactionStatus, FieldDescription, WireCell, Severity, ErrorFields } from './backend.js';
export {
  ScramServer,
  ScramState,
  SCRAM_SHA_256,
  DEFAULT_SCRAM_ITERATIONS,
  buildScramVerifier,
  formatScramVerifier,
  parseScramVerifier,
  saslPrep,
} from './scram.js';
export type { ScramVerifier, ScramServerOptions, BuildVerifierOptions } from './scram.js';
export {
  PgType,
  TypeOid,
  pgTypeByOid,
  hasBinaryFormat,
  encodeText,
  decodeText,
  encodeBinary,
  decodeBinary,
  encodeCell,
  decodeParam,
  decodeUtf8,
  formatFloat4,
  formatFloat8,
} from './types.js';
export type { PgTypeInfo, PgTypeName } from './types.js';
