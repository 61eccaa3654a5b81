// Proves that real node-postgres interoperates with the codecs: a toy server built only from the
// parser, the writer and the SCRAM state machine answers a pg.Client. The real gateway comes later.

import t from 'tap';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import pg from 'pg';
import {
  BackendWriter,
  FrontendKind,
  FrontendParser,
  ProtocolError,
  ScramServer,
  SCRAM_SHA_256,
  TypeOid,
  PgType,
  buildScramVerifier,
  decodeParam,
  decodeSaslInitialResponse,
  encodeCell,
  formatCodeAt,
  type FrontendMessage,
  type ScramVerifier,
} from '../src/sql/wire/index.js';
import { errorMessage, OrdoError } from '../src/util/index.js';

interface ToyOptions {
  /** null: trust authentication. */
  readonly verifier: ScramVerifier | null;
}

function serve(socket: Socket, options: ToyOptions): void {
  const parser = new FrontendParser();
  const w = new BackendWriter();
  let scram: ScramServer | null = null;
  let boundValue: bigint | null = null;
  let resultFormat: 0 | 1 = 0;

  const ready = (): void => {
    w.parameterStatus('server_version', '15.0')
      .parameterStatus('client_encoding', 'UTF8')
      .parameterStatus('DateStyle', 'ISO, MDY')
      .parameterStatus('integer_datetimes', 'on')
      .parameterStatus('standard_conforming_strings', 'on')
      .backendKeyData(1, 2)
      .readyForQuery('I');
  };

  const handle = (m: FrontendMessage): void => {
    switch (m.kind) {
      case FrontendKind.sslRequest:
        w.encryptionResponse('N');
        break;
      case FrontendKind.startup:
        if (options.verifier === null) {
          w.authenticationOk();
          ready();
        } else {
          scram = new ScramServer({ user: m.parameters.get('user') ?? '', verifier: options.verifier });
          w.authenticationSasl(ScramServer.mechanisms);
        }
        break;
      case FrontendKind.authResponse: {
        if (scram === null) throw new Error('unexpected auth response');
        if (scram.state === 'awaitingClientFirst') {
          const first = decodeSaslInitialResponse(m.payload);
          if (first.mechanism !== SCRAM_SHA_256 || first.data === null) throw new Error('bad mechanism');
          w.authenticationSaslContinue(scram.clientFirst(first.data));
        } else {
          w.authenticationSaslFinal(scram.clientFinal(m.payload)).authenticationOk();
          ready();
        }
        break;
      }
      case FrontendKind.query:
        if (m.sql === 'SELECT 1') {
          w.rowDescription([{ name: '?column?', tableOid: 0, columnAttr: 0, typeOid: TypeOid.int4, typeSize: 4, typeModifier: -1, format: 0 }])
            .dataRow([encodeCell(TypeOid.int4, 0, 1n)])
            .commandComplete('SELECT 1');
        } else if (m.sql === '') {
          w.emptyQueryResponse();
        } else {
          w.errorResponse({ severity: 'ERROR', code: '42601', message: `syntax error in "${m.sql}"`, position: 1 });
        }
        w.readyForQuery('I');
        break;
      case FrontendKind.parse:
        w.parseComplete();
        break;
      case FrontendKind.bind:
        boundValue = decodeParam(TypeOid.int8, formatCodeAt(m.paramFormats, 0, m.params.length), m.params[0] ?? null) as bigint;
        resultFormat = formatCodeAt(m.resultFormats, 0, 1);
        w.bindComplete();
        break;
      case FrontendKind.describe:
        w.rowDescription([
          { name: 'n', tableOid: 0, columnAttr: 0, typeOid: TypeOid.int8, typeSize: PgType.int8.size, typeModifier: -1, format: resultFormat },
        ]);
        break;
      case FrontendKind.execute:
        w.dataRow([encodeCell(TypeOid.int8, resultFormat, boundValue === null ? null : boundValue + 1n)]).commandComplete('SELECT 1');
        break;
      case FrontendKind.sync:
        w.readyForQuery('I');
        break;
      case FrontendKind.terminate:
        socket.end();
        break;
      default:
        break;
    }
  };

  socket.on('data', (chunk: Buffer) => {
    try {
      parser.push(chunk, (m) => {
        try {
          handle(m);
        } catch (err) {
          const code = err instanceof OrdoError ? err.code : 'XX000';
          w.errorResponse({ severity: 'FATAL', code, message: errorMessage(err) });
          socket.end(w.flush());
          throw err;
        }
      });
      if (w.byteLength > 0) socket.write(w.flush());
    } catch (err) {
      if (err instanceof ProtocolError) {
        w.reset();
        socket.end(w.errorResponse({ severity: 'FATAL', code: err.code, message: err.message }).flush());
      }
    }
  });
  socket.on('error', () => socket.destroy());
}

async function withToyServer(options: ToyOptions, body: (port: number) => Promise<void>): Promise<void> {
  const server: Server = createServer((socket) => serve(socket, options));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await body((server.address() as AddressInfo).port);
  } finally {
    server.close();
  }
}

t.test('node-postgres connects with trust auth, runs simple and extended queries, sees SQLSTATEs, and terminates', async (t) => {
  await withToyServer({ verifier: null }, async (port) => {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    await client.connect();
    const simple = await client.query('SELECT 1');
    t.same(simple.rows, [{ '?column?': 1 }]);
    t.equal(simple.command, 'SELECT');
    const extended = await client.query({ text: 'SELECT $1::int8 + 1 AS n', values: ['41'] });
    t.same(extended.rows, [{ n: '42' }]);
    // node-postgres supports `binary` at run time; its type definitions lack it.
    const binaryConfig: pg.QueryConfig & { binary: boolean } = { text: 'SELECT $1::int8 + 1 AS n', values: ['99'], binary: true };
    const binary = await client.query(binaryConfig);
    t.equal(binary.fields[0]?.format, 'binary');
    const err = await client.query('SELEC 1').catch((e: unknown) => e);
    t.match(err, { code: '42601', position: '1' });
    t.same((await client.query('SELECT 1')).rows, [{ '?column?': 1 }], 'the connection survives an error');
    await client.end();
  });
});

t.test('node-postgres authenticates with SCRAM-SHA-256, and a wrong password gets 28P01', async (t) => {
  const verifier = buildScramVerifier('s3cret', { iterations: 4096 });
  await withToyServer({ verifier }, async (port) => {
    const ok = new pg.Client({ host: '127.0.0.1', port, user: 'alice', database: 'postgres', password: 's3cret' });
    await ok.connect();
    t.same((await ok.query('SELECT 1')).rows, [{ '?column?': 1 }]);
    await ok.end();

    const bad = new pg.Client({ host: '127.0.0.1', port, user: 'alice', database: 'postgres', password: 'wrong' });
    bad.on('error', () => {});
    const err = await bad.connect().catch((e: unknown) => e);
    t.match(err, { code: '28P01', message: 'password authentication failed for user "alice"' });
    await bad.end().catch(() => {});
  });
});
