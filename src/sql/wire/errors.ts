// The error a malformed or oversized byte stream produces. It carries a SQLSTATE so the session can
// send a FATAL ErrorResponse with the right code before it closes the connection.

import { OrdoError } from '../../util/index.js';

/** SQLSTATE codes of the wire layer that `SqlState` (src/util) does not list. */
export const WireSqlState = {
  protocolViolation: '08P01',
  programLimitExceeded: '54000',
  featureNotSupported: '0A000',
  characterNotInRepertoire: '22021',
  invalidBinaryRepresentation: '22P03',
  invalidTextRepresentation: '22P02',
  numericValueOutOfRange: '22003',
  invalidParameterValue: '22023',
  datatypeMismatch: '42804',
  invalidPassword: '28P01',
  invalidAuthorizationSpecification: '28000',
} as const;

/** Raised by the frontend parser; after one, the parser refuses all further input. */
export class ProtocolError extends OrdoError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'ProtocolError';
  }
}
