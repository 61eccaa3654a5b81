import t from 'tap';
import { createRequire } from 'node:module';
import {
  FrontendKind,
  FrontendParser,
  FrontendPhase,
  ProtocolError,
  decodePasswordMessage,
  decodeSaslInitialResponse,
  formatCodeAt,
  type FrontendMessage,
} from '../src/sql/wire/index.js';
import { seededRandom } from '../src/util/index.js';

// node-postgres's own frontend serializer, loaded as CommonJS: its named exports are getters that
// an ESM import cannot always see (it depends on which loader resolves the package).
const { serialize } = createRequire(import.meta.url)('pg-protocol') as typeof import('pg-protocol');

/** What node-postgres sends for a session that uses every frontend message kind once after startup. */
function clientBytes(): Buffer {
  return Buffer.concat([
    serialize.startup({ user: 'alice', database: 'shop', application_name: 'tést' }),
    serialize.password('s3cret'),
    serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=*,r=abc'),
    serialize.sendSCRAMClientFinalMessage('c=biws,r=abcdef,p=xyz'),
    serialize.query('SELECT 1; SELECT 2'),
    serialize.parse({ name: 'st1', text: 'SELECT $1::int8, $2', types: [20, 0] }),
    serialize.bind({ portal: 'p1', statement: 'st1', values: ['42', null, Buffer.from([1, 2, 3])], binary: true }),
    serialize.describe({ type: 'S', name: 'st1' }),
    serialize.describe({ type: 'P' }),
    serialize.execute({ portal: 'p1', rows: 10 }),
    serialize.execute(),
    serialize.flush(),
    serialize.sync(),
    serialize.close({ type: 'P', name: 'p1' }),
    serialize.close({ type: 'S', name: 'st1' }),
    serialize.copyData(Buffer.from('1\tone\n')),
    serialize.copyDone(),
    serialize.copyFail('client gave up'),
    serialize.end(),
  ]);
}

const expected: unknown[] = [
  {
    kind: 'startup',
    protocolMajor: 3,
    protocolMinor: 0,
    parameters: new Map([
      ['user', 'alice'],
      ['database', 'shop'],
      ['application_name', 'tést'],
      ['client_encoding', 'UTF8'],
    ]),
  },
  { kind: 'authResponse', payload: Buffer.from('s3cret\0') },
  { kind: 'authResponse', payload: Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), Buffer.from([0, 0, 0, 12]), Buffer.from('n,,n=*,r=abc')]) },
  { kind: 'authResponse', payload: Buffer.from('c=biws,r=abcdef,p=xyz') },
  { kind: 'query', sql: 'SELECT 1; SELECT 2' },
  { kind: 'parse', statement: 'st1', sql: 'SELECT $1::int8, $2', paramTypeOids: [20, 0] },
  {
    kind: 'bind',
    portal: 'p1',
    statement: 'st1',
    paramFormats: [0, 0, 1],
    params: [Buffer.from('42'), null, Buffer.from([1, 2, 3])],
    resultFormats: [1],
  },
  { kind: 'describe', target: 'S', name: 'st1' },
  { kind: 'describe', target: 'P', name: '' },
  { kind: 'execute', portal: 'p1', maxRows: 10 },
  { kind: 'execute', portal: '', maxRows: 0 },
  { kind: 'flush' },
  { kind: 'sync' },
  { kind: 'close', target: 'P', name: 'p1' },
  { kind: 'close', target: 'S', name: 'st1' },
  { kind: 'copyData', data: Buffer.from('1\tone\n') },
  { kind: 'copyDone' },
  { kind: 'copyFail', message: 'client gave up' },
  { kind: 'terminate' },
];

function normalize(messages: FrontendMessage[]): unknown[] {
  // Compare byte payloads by content, whatever view type they are.
  return messages.map((m) => {
    switch (m.kind) {
      case FrontendKind.authResponse:
        return { ...m, payload: Buffer.from(m.payload) };
      case FrontendKind.copyData:
        return { ...m, data: Buffer.from(m.data) };
      case FrontendKind.bind:
        return { ...m, params: m.params.map((p) => (p === null ? null : Buffer.from(p))) };
      default:
        return m;
    }
  });
}

t.test('every frontend message node-postgres sends decodes to the right plain data', (t) => {
  const parser = new FrontendParser();
  t.same(normalize(parser.pushAll(clientBytes())), expected);
  t.equal(parser.phase, FrontendPhase.closed);
  t.end();
});

t.test('the output does not depend on how the stream is chunked', (t) => {
  const bytes = clientBytes();
  const byteByByte = new FrontendParser();
  const out: FrontendMessage[] = [];
  for (let i = 0; i < bytes.length; i++) byteByByte.push(bytes.subarray(i, i + 1), (m) => out.push(m));
  t.same(normalize(out), expected, 'one byte at a time');
  t.equal(byteByByte.bufferedByteLength, 0);

  const random = seededRandom(7);
  for (let run = 0; run < 50; run++) {
    const parser = new FrontendParser();
    const got: FrontendMessage[] = [];
    for (let pos = 0; pos < bytes.length; ) {
      const n = 1 + Math.floor(random() * 40);
      // Copies, so no message can lean on the chunk being a view of one big buffer.
      parser.push(Uint8Array.from(bytes.subarray(pos, pos + n)), (m) => got.push(m));
      pos += n;
    }
    t.same(normalize(got), expected, `random chunking run ${run}`);
  }
  t.end();
});

t.test('a message larger than the initial partial buffer is reassembled from small chunks', (t) => {
  const big = Buffer.alloc(300_000, 0x61);
  const bytes = serialize.copyData(big);
  const parser = new FrontendParser({ expectStartup: false });
  const out: FrontendMessage[] = [];
  for (let pos = 0; pos < bytes.length; pos += 1000) parser.push(bytes.subarray(pos, pos + 1000), (m) => out.push(m));
  t.equal(out.length, 1);
  const m = out[0];
  t.ok(m?.kind === FrontendKind.copyData && Buffer.from(m.data).equals(big));
  t.end();
});

t.test('startup-phase requests: SSLRequest and GSSENCRequest keep the startup phase, CancelRequest ends it', (t) => {
  const gss = Buffer.alloc(8);
  gss.writeInt32BE(8, 0);
  gss.writeInt32BE(80877104, 4);
  const parser = new FrontendParser();
  const got = parser.pushAll(Buffer.concat([serialize.requestSsl(), gss, serialize.startup({ user: 'u' })]));
  t.same(
    got.map((m) => m.kind),
    ['sslRequest', 'gssEncRequest', 'startup'],
  );
  t.equal(parser.phase, FrontendPhase.typed);

  const cancel = new FrontendParser();
  t.same(cancel.pushAll(serialize.cancel(4242, -123456789)), [{ kind: 'cancelRequest', processId: 4242, secretKey: -123456789 }]);
  t.equal(cancel.phase, FrontendPhase.closed);
  t.same(cancel.pushAll(serialize.query('ignored')), [], 'bytes after a CancelRequest are ignored');
  t.end();
});

t.test('a startup message asking for protocol 3.2 is accepted with its minor version', (t) => {
  const b = Buffer.from(serialize.startup({ user: 'u' }));
  b.writeInt16BE(2, 6);
  const [m] = new FrontendParser().pushAll(b);
  t.ok(m?.kind === 'startup' && m.protocolMajor === 3 && m.protocolMinor === 2);
  t.end();
});

t.test('bytes pipelined after an SSLRequest stay visible to the session', (t) => {
  const parser = new FrontendParser();
  const startup = serialize.startup({ user: 'u' });
  const got = parser.pushAll(Buffer.concat([serialize.requestSsl(), startup.subarray(0, 5)]));
  t.same(
    got.map((m) => m.kind),
    ['sslRequest'],
  );
  t.equal(parser.bufferedByteLength, 5, 'a session answering S must refuse these unencrypted bytes');
  t.end();
});

t.test('the payload of a p message decodes as a password or a SASLInitialResponse', (t) => {
  const [pw, sasl, saslNoData] = new FrontendParser({ expectStartup: false }).pushAll(
    Buffer.concat([
      serialize.password('hunter2'),
      serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=*,r=xyz'),
      Buffer.from([0x70, 0, 0, 0, 8 + 14, ...Buffer.from('SCRAM-SHA-256\0'), 0xff, 0xff, 0xff, 0xff]),
    ]),
  );
  t.ok(pw?.kind === 'authResponse' && decodePasswordMessage(pw.payload) === 'hunter2');
  t.ok(sasl?.kind === 'authResponse');
  if (sasl?.kind === 'authResponse') {
    const d = decodeSaslInitialResponse(sasl.payload);
    t.equal(d.mechanism, 'SCRAM-SHA-256');
    t.equal(Buffer.from(d.data ?? []).toString(), 'n,,n=*,r=xyz');
  }
  t.ok(saslNoData?.kind === 'authResponse' && decodeSaslInitialResponse(saslNoData.payload).data === null);
  t.end();
});

t.test('format codes follow the none / one for all / one each rule', (t) => {
  t.equal(formatCodeAt([], 2, 3), 0);
  t.equal(formatCodeAt([1], 2, 3), 1);
  t.equal(formatCodeAt([0, 1, 0], 1, 3), 1);
  t.throws(() => formatCodeAt([0, 1], 0, 3), { code: '08P01' });
  t.throws(() => formatCodeAt([2], 0, 1), { code: '22023' });
  t.end();
});

/** A typed message with the given type byte and body. */
function typed(type: string, body: Buffer | number[]): Buffer {
  const b = Buffer.from(body);
  const h = Buffer.alloc(5);
  h[0] = type.charCodeAt(0);
  h.writeInt32BE(b.length + 4, 1);
  return Buffer.concat([h, b]);
}

function startupPacket(body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeInt32BE(body.length + 4, 0);
  return Buffer.concat([h, body]);
}

const version30 = Buffer.from([0, 3, 0, 0]);
const malformed: readonly { name: string; bytes: Buffer; code: string; startup?: boolean }[] = [
  { name: 'an unknown type byte', bytes: typed('Z', []), code: '08P01' },
  { name: 'a length below 4', bytes: Buffer.from([0x51, 0, 0, 0, 3]), code: '08P01' },
  { name: 'a negative length', bytes: Buffer.from([0x51, 0xff, 0xff, 0xff, 0xff]), code: '08P01' },
  { name: 'a string without its NUL terminator', bytes: typed('Q', Buffer.from('SELECT 1')), code: '08P01' },
  { name: 'a parameter count that runs past the end', bytes: typed('P', [0, 0x78, 0, 0, 5, 0, 0, 0, 23]), code: '08P01' },
  {
    name: 'a Bind parameter length that runs past the end',
    bytes: typed('B', [0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 1, 2, 0, 0]),
    code: '08P01',
  },
  { name: 'a Bind parameter length below -1', bytes: typed('B', [0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe, 0, 0]), code: '08P01' },
  { name: 'a Bind with 2 format codes for 1 parameter', bytes: typed('B', [0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0]), code: '08P01' },
  { name: 'trailing bytes after a Sync', bytes: typed('S', [1]), code: '08P01' },
  { name: 'an Execute without its row limit', bytes: typed('E', [0]), code: '08P01' },
  { name: 'a Describe of neither S nor P', bytes: typed('D', [0x58, 0]), code: '08P01' },
  { name: 'a Close of neither S nor P', bytes: typed('C', [0x58, 0]), code: '08P01' },
  { name: 'a query that is not UTF-8', bytes: typed('Q', [0xc3, 0x28, 0]), code: '22021' },
  { name: 'a startup packet length below 8', bytes: Buffer.from([0, 0, 0, 7, 0, 3, 0]), code: '08P01', startup: true },
  { name: 'a startup packet above 10000 bytes', bytes: Buffer.from([0, 0, 0x27, 0x11]), code: '08P01', startup: true },
  { name: 'protocol version 2.0', bytes: startupPacket(Buffer.from([0, 2, 0, 0, 0])), code: '0A000', startup: true },
  {
    name: 'startup parameters without the final terminator',
    bytes: startupPacket(Buffer.concat([version30, Buffer.from('user\0u\0')])),
    code: '08P01',
    startup: true,
  },
  {
    name: 'a startup parameter without a value',
    bytes: startupPacket(Buffer.concat([version30, Buffer.from('user\0')])),
    code: '08P01',
    startup: true,
  },
  {
    name: 'bytes after the startup terminator',
    bytes: startupPacket(Buffer.concat([version30, Buffer.from('user\0u\0\0x')])),
    code: '08P01',
    startup: true,
  },
  { name: 'a CancelRequest of the wrong length', bytes: startupPacket(Buffer.from([0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1])), code: '08P01', startup: true },
];

for (const c of malformed) {
  t.test(`${c.name} is a protocol error with SQLSTATE ${c.code}, and the parser stays failed`, (t) => {
    const parser = new FrontendParser({ expectStartup: c.startup === true });
    const before: FrontendMessage[] = [];
    const prefix = c.startup === true ? Buffer.alloc(0) : serialize.sync();
    const err = (() => {
      try {
        parser.push(Buffer.concat([prefix, c.bytes]), (m) => before.push(m));
      } catch (e) {
        return e;
      }
      return null;
    })();
    t.ok(err instanceof ProtocolError, 'a ProtocolError');
    t.equal((err as ProtocolError).code, c.code);
    t.equal(before.length, c.startup === true ? 0 : 1, 'messages before the bad one were delivered');
    t.equal(parser.phase, FrontendPhase.failed);
    t.throws(() => parser.pushAll(serialize.sync()), { code: c.code }, 'further input is refused');
    t.end();
  });
}

t.test('a malformed header fails the parser even when it arrives byte by byte', (t) => {
  const parser = new FrontendParser({ expectStartup: false });
  const bytes = Buffer.from([0x51, 0, 0, 0, 2]);
  for (let i = 0; i < 4; i++) t.same(parser.pushAll(bytes.subarray(i, i + 1)), []);
  t.throws(() => parser.pushAll(bytes.subarray(4)), { code: '08P01' });
  t.end();
});

t.test('an oversized message is refused with 54000 from its header alone, before its body is buffered', (t) => {
  const parser = new FrontendParser({ expectStartup: false, maxMessageBytes: 1024 });
  t.equal(parser.pushAll(serialize.query('x'.repeat(1000))).length, 1, 'a message within the limit passes');
  t.throws(() => parser.pushAll(Buffer.from([0x51, 0x7f, 0xff, 0xff, 0xff])), { code: '54000' });
  t.equal(parser.bufferedByteLength, 0);
  t.throws(() => parser.pushAll(serialize.sync()), { code: '54000' });

  const dflt = new FrontendParser({ expectStartup: false });
  t.throws(() => dflt.pushAll(Buffer.from([0x64, 0x04, 0x00, 0x00, 0x05])), { code: '54000' }, 'default limit is 64 MiB');
  t.end();
});

t.test('a message handler that throws fails the parser and its error propagates', (t) => {
  const parser = new FrontendParser({ expectStartup: false });
  t.throws(
    () =>
      parser.push(Buffer.concat([serialize.sync(), serialize.sync()]), () => {
        throw new Error('boom');
      }),
    { message: 'boom' },
  );
  t.equal(parser.phase, FrontendPhase.failed);
  t.throws(() => parser.pushAll(serialize.sync()), ProtocolError);
  t.end();
});
