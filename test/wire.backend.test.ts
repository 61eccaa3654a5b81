import t from 'tap';
import { createRequire } from 'node:module';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { BackendWriter, FormatCode } from '../src/sql/wire/index.js';

// node-postgres's own backend-message parser (a real client), loaded as CommonJS.
const { Parser } = createRequire(import.meta.url)('pg-protocol/dist/parser.js') as typeof import('pg-protocol/dist/parser.js');

/** Parses bytes with node-postgres's own backend-message parser, in the given chunk size. */
function clientParse(bytes: Buffer, chunkBytes = bytes.length): Record<string, unknown>[] {
  const parser = new Parser();
  const out: Record<string, unknown>[] = [];
  for (let pos = 0; pos < bytes.length; pos += chunkBytes) {
    // Error.message is not an own enumerable property, so the spread needs it spelled out.
    parser.parse(bytes.subarray(pos, pos + chunkBytes), (m: BackendMessage) =>
      out.push({ ...m, message: (m as { message?: string }).message } as Record<string, unknown>),
    );
  }
  return out;
}

t.test('startup and authentication messages parse in node-postgres as what was written', (t) => {
  const w = new BackendWriter(8);
  w.authenticationOk()
    .authenticationCleartextPassword()
    .authenticationSasl(['SCRAM-SHA-256'])
    .authenticationSaslContinue('r=abc,s=c2FsdA==,i=4096')
    .authenticationSaslFinal('v=c2lnbmF0dXJl')
    .parameterStatus('server_version', '15.0')
    .backendKeyData(77, -5)
    .readyForQuery('I')
    .readyForQuery('T')
    .readyForQuery('E');
  const got = clientParse(w.flush());
  t.same(
    got.map((m) => m.name),
    [
      'authenticationOk',
      'authenticationCleartextPassword',
      'authenticationSASL',
      'authenticationSASLContinue',
      'authenticationSASLFinal',
      'parameterStatus',
      'backendKeyData',
      'readyForQuery',
      'readyForQuery',
      'readyForQuery',
    ],
  );
  t.same(got[2]?.mechanisms, ['SCRAM-SHA-256']);
  t.equal(got[3]?.data, 'r=abc,s=c2FsdA==,i=4096');
  t.equal(got[4]?.data, 'v=c2lnbmF0dXJl');
  t.match(got[5], { parameterName: 'server_version', parameterValue: '15.0' });
  t.match(got[6], { processID: 77, secretKey: -5 });
  t.same(
    got.slice(7).map((m) => m.status),
    ['I', 'T', 'E'],
  );
  t.end();
});

t.test('a result set (RowDescription, DataRows with NULLs, CommandComplete) round-trips through node-postgres', (t) => {
  const w = new BackendWriter(16);
  w.rowDescription([
    { name: 'id', tableOid: 16384, columnAttr: 1, typeOid: 20, typeSize: 8, typeModifier: -1, format: FormatCode.text },
    { name: 'naïve', tableOid: 0, columnAttr: 0, typeOid: 1043, typeSize: -1, typeModifier: 14, format: FormatCode.binary },
    { name: 'big oid', tableOid: 4_000_000_000, columnAttr: 2, typeOid: 4_000_000_001, typeSize: -2, typeModifier: -1, format: 0 },
  ]);
  w.dataRow(['1', 'héllo', null]);
  w.dataRow([null, Uint8Array.of(0, 1, 255), '']);
  w.dataRow(['x'.repeat(10_000), '😀', 'a\0b']);
  w.commandComplete('SELECT 3').emptyQueryResponse();
  const bytes = w.flush();
  for (const chunk of [bytes.length, 7, 1]) {
    const got = clientParse(bytes, chunk);
    t.same(
      got.map((m) => m.name),
      ['rowDescription', 'dataRow', 'dataRow', 'dataRow', 'commandComplete', 'emptyQuery'],
      `chunk ${chunk}`,
    );
    const fields = got[0]?.fields as Record<string, unknown>[];
    t.same({ ...fields[0] }, { name: 'id', tableID: 16384, columnID: 1, dataTypeID: 20, dataTypeSize: 8, dataTypeModifier: -1, format: 'text' });
    t.same({ ...fields[1] }, { name: 'naïve', tableID: 0, columnID: 0, dataTypeID: 1043, dataTypeSize: -1, dataTypeModifier: 14, format: 'binary' });
    t.match({ ...fields[2] }, { tableID: 4_000_000_000, dataTypeID: 4_000_000_001, dataTypeSize: -2 });
    t.same(got[1]?.fields, ['1', 'héllo', null]);
    t.same(got[2]?.fields, [null, Buffer.from([0, 1, 255]).toString('utf8'), '']);
    t.same(got[3]?.fields, ['x'.repeat(10_000), '😀', 'a\0b']);
    t.equal(got[4]?.text, 'SELECT 3');
  }
  t.end();
});

t.test('extended-protocol acknowledgements and ParameterDescription parse in node-postgres', (t) => {
  const w = new BackendWriter();
  w.parseComplete().bindComplete().closeComplete().noData().portalSuspended().parameterDescription([20, 25, 0, 4_000_000_000]);
  const got = clientParse(w.flush());
  t.same(
    got.map((m) => m.name),
    ['parseComplete', 'bindComplete', 'closeComplete', 'noData', 'portalSuspended', 'parameterDescription'],
  );
  t.same(got[5]?.dataTypeIDs, [20, 25, 0, 4_000_000_000]);
  t.end();
});

t.test('ErrorResponse and NoticeResponse carry every field node-postgres knows', (t) => {
  const w = new BackendWriter();
  w.errorResponse({
    severity: 'ERROR',
    code: '23505',
    message: 'duplicate key value violates unique constraint "t_pkey"',
    detail: 'Key (id)=(1) already exists.',
    hint: 'try another id',
    position: 15,
    internalPosition: 3,
    internalQuery: 'SELECT inner',
    where: 'somewhere',
    schema: 'public',
    table: 't',
    column: 'id',
    dataType: 'int8',
    constraint: 't_pkey',
    file: 'exec.ts',
    line: 42,
    routine: 'insert',
  });
  w.noticeResponse({ severity: 'NOTICE', code: '00000', message: 'table "x" does not exist, skipping' });
  w.errorResponse({ severity: 'FATAL', code: '08P01', message: 'bad\0byte' });
  const got = clientParse(w.flush());
  t.match(got[0], {
    name: 'error',
    severity: 'ERROR',
    code: '23505',
    message: 'duplicate key value violates unique constraint "t_pkey"',
    detail: 'Key (id)=(1) already exists.',
    hint: 'try another id',
    position: '15',
    internalPosition: '3',
    internalQuery: 'SELECT inner',
    where: 'somewhere',
    schema: 'public',
    table: 't',
    column: 'id',
    dataType: 'int8',
    constraint: 't_pkey',
    file: 'exec.ts',
    line: '42',
    routine: 'insert',
  });
  t.match(got[1], { name: 'notice', severity: 'NOTICE', code: '00000', message: 'table "x" does not exist, skipping' });
  t.match(got[2], { name: 'error', severity: 'FATAL', code: '08P01', message: 'bad\uFFFDbyte' }, 'a NUL in an error text cannot break framing');
  t.end();
});

t.test('COPY messages parse in node-postgres with their formats', (t) => {
  const w = new BackendWriter();
  w.copyInResponse(FormatCode.text, [0, 0, 0]).copyOutResponse(FormatCode.binary, [1, 1]).copyData('1\tone\n').copyData(Uint8Array.of(9, 8)).copyDone();
  const got = clientParse(w.flush());
  t.same(
    got.map((m) => m.name),
    ['copyInResponse', 'copyOutResponse', 'copyData', 'copyData', 'copyDone'],
  );
  t.match(got[0], { binary: false, columnTypes: [0, 0, 0] });
  t.match(got[1], { binary: true, columnTypes: [1, 1] });
  t.equal((got[2]?.chunk as Buffer).toString(), '1\tone\n');
  t.same([...(got[3]?.chunk as Buffer)], [9, 8]);
  t.end();
});

t.test('the answer to SSLRequest is the single byte N, outside any message frame', (t) => {
  const w = new BackendWriter();
  t.same([...w.encryptionResponse('N').flush()], [0x4e]);
  t.end();
});

t.test('NegotiateProtocolVersion and NotificationResponse have the documented layout', (t) => {
  const w = new BackendWriter();
  const bytes = w.negotiateProtocolVersion(0, ['_pq_.x']).flush();
  t.same(bytes, Buffer.from([0x76, 0, 0, 0, 19, 0, 0, 0, 0, 0, 0, 0, 1, ...Buffer.from('_pq_.x\0')]));
  const got = clientParse(w.notificationResponse(5, 'ch', 'hi').flush());
  t.match(got[0], { name: 'notification', processId: 5, channel: 'ch', payload: 'hi' });
  t.end();
});

t.test('a NUL inside a C string field is refused instead of corrupting the stream', (t) => {
  const w = new BackendWriter();
  t.throws(() => w.commandComplete('SELECT\0 1'), { code: '22021' });
  t.throws(() => w.rowDescription([{ name: 'a\0', tableOid: 0, columnAttr: 0, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 }]), {
    code: '22021',
  });
  t.same([...w.noData().flush()], [0x6e, 0, 0, 0, 4], 'the refused message left nothing behind');
  t.end();
});

t.test('flush hands over exactly the bytes written and leaves the writer empty and reusable', (t) => {
  const w = new BackendWriter(4);
  const first = w.dataRow(['a'.repeat(2_000_000)]).flush();
  t.equal(first.length, 5 + 2 + 4 + 2_000_000);
  t.equal(w.byteLength, 0);
  const second = w.readyForQuery('I').flush();
  t.same([...second], [0x5a, 0, 0, 0, 5, 0x49]);
  t.equal(first[0], 0x44, 'the earlier buffer is not overwritten by later writes');
  t.end();
});
