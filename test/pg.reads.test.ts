// Read-only statements are served from the local store at a read index (DESIGN.md §2), without a log
// entry: they must still be linearizable and keep the transaction semantics of their message or block.

import t from 'tap';
import { failure, harness, type Harness } from './pg.support.js';

let h: Harness;
t.before(async () => {
  h = await harness();
});
t.teardown(async () => {
  await h.close();
});

t.test('a read-only statement adds no log entry', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE r1 (id int PRIMARY KEY, n int)');
  await c.query('INSERT INTO r1 VALUES (1, 10)');
  const before = h.node.lastLogPosition;
  const reads = h.server.engine.stats.localReads;
  const r = await c.query('SELECT n FROM r1 WHERE id = 1');
  t.same(r.rows, [{ n: 10 }]);
  const p = await c.query({ text: 'SELECT n FROM r1 WHERE id = $1', values: [1] });
  t.same(p.rows, [{ n: 10 }], 'the extended protocol too');
  t.equal(h.node.lastLogPosition, before, 'no log entry');
  t.equal(h.server.engine.stats.localReads, reads + 2);
});

t.test('a read on another connection sees every write acknowledged before it began (linearizable)', async (t) => {
  const writer = await h.client();
  const reader = await h.client();
  await writer.query('CREATE TABLE r2 (id int PRIMARY KEY, n int)');
  await writer.query('INSERT INTO r2 VALUES (1, 0)');
  for (let i = 1; i <= 50; i++) {
    // Alternate protocols: a simple query and a prepared statement both take the local read path.
    if (i % 2 === 0) await writer.query('UPDATE r2 SET n = n + 1 WHERE id = 1');
    else await writer.query({ text: 'UPDATE r2 SET n = n + 1 WHERE id = $1', values: [1] });
    const r = await reader.query(i % 3 === 0 ? { text: 'SELECT n FROM r2 WHERE id = $1', values: [1] } : 'SELECT n FROM r2 WHERE id = 1');
    if ((r.rows[0] as { n: number }).n !== i) {
      t.fail(`read ${i} saw ${JSON.stringify(r.rows)}`);
      return;
    }
  }
  // Writes still in flight while reads run: each read sees a value at least as new as the last acknowledged write.
  let acknowledged = 50;
  const writes = (async () => {
    for (let i = 0; i < 30; i++) {
      await writer.query('UPDATE r2 SET n = n + 1 WHERE id = 1');
      acknowledged++;
    }
  })();
  let stale = 0;
  let done = false;
  void writes.then(() => (done = true));
  while (!done) {
    const floor = acknowledged;
    const r = await reader.query('SELECT n FROM r2 WHERE id = 1');
    if ((r.rows[0] as { n: number }).n < floor) stale++;
  }
  await writes;
  t.equal(stale, 0, 'no read saw a value older than a write acknowledged before it began');
});

t.test('a read-only multi-statement message and a read-only block see one state', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE r3 (id int PRIMARY KEY, n int)');
  await c.query('INSERT INTO r3 VALUES (1, 1), (2, 2)');
  const before = h.node.lastLogPosition;
  const multi = (await c.query('SELECT n FROM r3 WHERE id = 1; SELECT count(*) AS k FROM r3')) as unknown as { rows: unknown[] }[];
  t.same(multi.map((r) => r.rows), [[{ n: 1 }], [{ k: '2' }]]);
  const block = (await c.query('BEGIN; SELECT n FROM r3 WHERE id = 2; SELECT sum(n) AS s FROM r3; COMMIT')) as unknown as { rows: unknown[] }[];
  t.same(block.map((r) => r.rows), [[], [{ n: 2 }], [{ s: '3' }], []]);
  t.equal(h.node.lastLogPosition, before, 'no log entry for reads only');
});

t.test('reads inside a block with writes still go through the log and see the block’s earlier writes', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE r4 (id int PRIMARY KEY, n int)');
  await c.query('INSERT INTO r4 VALUES (1, 1)');
  const before = h.node.lastLogPosition;
  const block = (await c.query('BEGIN; UPDATE r4 SET n = n + 41 WHERE id = 1; SELECT n FROM r4 WHERE id = 1; INSERT INTO r4 VALUES (2, 5); SELECT count(*) AS k FROM r4; COMMIT')) as unknown as { rows: unknown[] }[];
  t.same(block.map((r) => r.rows), [[], [], [{ n: 42 }], [], [{ k: '2' }], []]);
  t.equal(h.node.lastLogPosition, before + 1, 'the whole block is one log entry');
  // The implicit transaction of a message with a write: the SELECT sees the UPDATE before it.
  const implicit = (await c.query('UPDATE r4 SET n = 0 WHERE id = 2; SELECT n FROM r4 WHERE id = 2')) as unknown as { rows: unknown[] }[];
  t.same(implicit[1]?.rows, [{ n: 0 }]);
  // A failing write aborts the whole block: the reads in it report nothing and nothing changed.
  const err = await failure(c.query('BEGIN; UPDATE r4 SET n = 7 WHERE id = 1; INSERT INTO r4 VALUES (1, 1); SELECT n FROM r4 WHERE id = 1; COMMIT'));
  t.equal(err.code, '23505');
  t.same((await c.query('SELECT n FROM r4 WHERE id = 1')).rows, [{ n: 42 }]);
});

t.test('an interactive transaction reads its own writes; a later read-only statement sees the commit', async (t) => {
  const c = await h.client();
  const other = await h.client();
  await c.query('CREATE TABLE r5 (id int PRIMARY KEY, n int)');
  await c.query('INSERT INTO r5 VALUES (1, 1)');
  await c.query('BEGIN');
  await c.query('UPDATE r5 SET n = 100 WHERE id = 1');
  t.same((await c.query('SELECT n FROM r5 WHERE id = 1')).rows, [{ n: 100 }], 'own write');
  t.same((await other.query('SELECT n FROM r5 WHERE id = 1')).rows, [{ n: 1 }], 'not visible before COMMIT');
  await c.query('COMMIT');
  t.same((await other.query('SELECT n FROM r5 WHERE id = 1')).rows, [{ n: 100 }], 'visible once COMMIT was acknowledged');
});

t.test('a read of a dropped table fails with 42P01 on the local path', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE r6 (id int PRIMARY KEY)');
  await c.query({ name: 'r6sel', text: 'SELECT id FROM r6 WHERE id = $1', values: [1] });
  await c.query('DROP TABLE r6');
  const err = await failure(c.query('SELECT id FROM r6'));
  t.equal(err.code, '42P01');
});

t.test('a point UPDATE/DELETE/SELECT with conditions beyond the key still tests them', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE r7 (id int PRIMARY KEY, n int)');
  await c.query('INSERT INTO r7 VALUES (1, 5)');
  t.equal((await c.query('UPDATE r7 SET n = 6 WHERE id = 1 AND n = 4')).rowCount, 0);
  t.equal((await c.query('UPDATE r7 SET n = 6 WHERE n = 5 AND id = 1')).rowCount, 1);
  t.equal((await c.query('UPDATE r7 SET n = n + 1 WHERE id = 1 AND id = 2')).rowCount, 0);
  t.same((await c.query('SELECT n FROM r7 WHERE id = 1 AND n > 100')).rows, []);
  t.equal((await c.query('DELETE FROM r7 WHERE id = 1 AND n = 5')).rowCount, 0);
  t.same((await c.query('UPDATE r7 SET n = n * 2 WHERE id = 1 RETURNING id, n')).rows, [{ id: 1, n: 12 }], 'RETURNING sees the new row');
  t.equal((await c.query('UPDATE r7 SET n = 1 WHERE id = 2')).rowCount, 0, 'no row at the key');
  // Two statements on one table in one block: the table's guard is checked once, results unchanged.
  const block = (await c.query('BEGIN; UPDATE r7 SET n = n + 1 WHERE id = 1; SELECT n FROM r7 WHERE id = 1; UPDATE r7 SET n = n + 1 WHERE id = 1; COMMIT')) as unknown as { rows: unknown[] }[];
  t.same(block[2]?.rows, [{ n: 13 }]);
  t.same((await c.query('SELECT n FROM r7 WHERE id = 1')).rows, [{ n: 14 }]);
});

/** Frontend message: type byte, int32 length (itself included), body. */
function msg(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const cstr = (s: string): Buffer => Buffer.from(`${s}\u0000`, 'utf8');
const i16 = (n: number): Buffer => Buffer.from([(n >> 8) & 0xff, n & 0xff]);

/** Connects, starts up, then sends `payload` in one write and collects backend message types until `until` arrives. */
async function raw(payload: Buffer, until: string): Promise<string[]> {
  const { createConnection } = await import('node:net');
  const s = createConnection({ host: '127.0.0.1', port: h.server.port });
  const types: string[] = [];
  let buf = Buffer.alloc(0);
  let started = false;
  return new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no ${until} after ${types.join('')}`));
    }, 5_000);
    s.on('error', reject);
    s.on('connect', () => {
      const params = Buffer.concat([cstr('user'), cstr('postgres'), cstr('database'), cstr('postgres'), Buffer.from([0])]);
      const len = Buffer.alloc(8);
      len.writeInt32BE(params.length + 8, 0);
      len.writeInt32BE(196608, 4);
      s.write(Buffer.concat([len, params]));
    });
    s.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 5 && buf.length >= 1 + buf.readInt32BE(1)) {
        const type = String.fromCharCode(buf[0] as number);
        const body = buf.subarray(5, 1 + buf.readInt32BE(1));
        buf = buf.subarray(1 + buf.readInt32BE(1));
        if (type === 'E') types.push(`E ${body.toString('latin1')}`);
        if (!started) {
          if (type === 'Z') {
            started = true;
            s.write(payload);
          }
          continue;
        }
        types.push(type);
        if (type === until) {
          clearTimeout(timer);
          s.end();
          resolve(types);
          return;
        }
      }
    });
  });
}

t.test('extended protocol: a pipeline is answered in order, and Flush without Sync sends what is pending', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE r8 (id int PRIMARY KEY, n int)');
  await c.query('INSERT INTO r8 VALUES (1, 8)');
  const parse = msg('P', Buffer.concat([cstr(''), cstr('SELECT n FROM r8 WHERE id = 1'), i16(0)]));
  const bind = msg('B', Buffer.concat([cstr(''), cstr(''), i16(0), i16(0), i16(0)]));
  const describe = msg('D', Buffer.concat([Buffer.from('P'), cstr('')]));
  const execute = msg('E', Buffer.concat([cstr(''), Buffer.alloc(4)]));
  // 1 = ParseComplete, 2 = BindComplete, T = RowDescription, D = DataRow, C = CommandComplete, Z = ReadyForQuery.
  t.same(await raw(Buffer.concat([parse, bind, describe, execute, msg('S', Buffer.alloc(0))]), 'Z'), ['1', '2', 'T', 'D', 'C', 'Z']);
  t.same(await raw(Buffer.concat([parse, bind, execute, msg('H', Buffer.alloc(0))]), 'C'), ['1', '2', 'D', 'C'], 'no Sync: Flush sends it');
  t.same(await raw(Buffer.concat([parse, bind, execute]), 'C'), ['1', '2', 'D', 'C'], 'neither Sync nor Flush: sent once nothing else is queued');
});

t.test('an extended-protocol statement with literals and no $n binds the literals of its own text', async (t) => {
  const c = await h.client();
  await c.query('CREATE TABLE r9 (id int PRIMARY KEY, n int)');
  await c.query('INSERT INTO r9 VALUES (1, 10), (2, 20)');
  // Two texts of one shape share a plan; each must bind its own literal.
  const parse = (sql: string): Buffer => msg('P', Buffer.concat([cstr(''), cstr(sql), i16(0)]));
  const bind = msg('B', Buffer.concat([cstr(''), cstr(''), i16(0), i16(0), i16(0)]));
  const describeS = msg('D', Buffer.concat([Buffer.from('S'), cstr('')]));
  const execute = msg('E', Buffer.concat([cstr(''), Buffer.alloc(4)]));
  const sync = msg('S', Buffer.alloc(0));
  // t = ParameterDescription (none: the client has no $n to supply).
  t.same(await raw(Buffer.concat([parse('SELECT n FROM r9 WHERE id = 1'), describeS, bind, execute, sync]), 'Z'), ['1', 't', 'T', '2', 'D', 'C', 'Z']);
  const r = await c.query({ text: "SELECT n FROM r9 WHERE id = $1 AND n > 5", values: [2] });
  t.same(r.rows, [{ n: 20 }], 'literals next to $n stay in the text');
  t.same((await c.query({ name: 'lit1', text: 'SELECT n FROM r9 WHERE id = 1' })).rows, [{ n: 10 }]);
  t.same((await c.query({ name: 'lit2', text: 'SELECT n FROM r9 WHERE id = 2' })).rows, [{ n: 20 }], 'the second text of the shape gets its own value');
});

t.test('interactive COMMITs of one shape validate each transaction’s own observed rows', async (t) => {
  const c = await h.client();
  const other = await h.client();
  await c.query('CREATE TABLE r10 (id int PRIMARY KEY, n int)');
  await c.query('INSERT INTO r10 VALUES (1, 1), (2, 2), (3, 3)');
  const shape = async (observe: number, meanwhile: number | null): Promise<string> => {
    await c.query('BEGIN');
    await c.query(`SELECT n FROM r10 WHERE id = ${observe}`);
    await c.query('UPDATE r10 SET n = n + 1 WHERE id = 2');
    if (meanwhile !== null) await other.query(`UPDATE r10 SET n = n + 100 WHERE id = ${meanwhile}`);
    try {
      await c.query('COMMIT');
      return 'committed';
    } catch (err) {
      return (err as { code?: string }).code ?? 'error';
    }
  };
  t.equal(await shape(1, null), 'committed');
  t.equal(await shape(3, 3), '40001', 'its observed row changed');
  t.equal(await shape(1, 3), 'committed', 'another row changed: no conflict');
  t.equal(await shape(3, 1), 'committed');
  t.equal(await shape(1, 1), '40001');
  t.same((await c.query('SELECT n FROM r10 WHERE id = 2')).rows, [{ n: 5 }], 'three of five commits applied');
});
