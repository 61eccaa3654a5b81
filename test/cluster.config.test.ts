// `ordo start --config FILE`: a JSON file gives the same settings as the flags (keys are the flag names
// in camelCase), a flag on the command line wins over the file, and an unknown key, or a one-time flag
// such as bootstrap, is an error naming the key.

import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCommand } from '../src/cli/args.js';
import { fetchHealth, freePort } from '../src/cli/cluster.js';
import { startSpec } from '../src/cli/start.js';
import { scratchDir } from './helpers.js';
import { ORDO, ordo, waitFor } from './fixtures/clusterSupport.js';

function configFile(config: Record<string, unknown>): string {
  const path = join(scratchDir('ordo-config-'), 'ordo.json');
  writeFileSync(path, JSON.stringify(config));
  return path;
}

t.test('the file gives the flags, peers may be an object, and a command-line flag wins', (t) => {
  const path = configFile({ dataDir: '/tmp/x', pgPort: 7001, nodeId: 'a', peers: { a: 'h:1', b: 'h:2' }, epochMs: 3 });
  const flags = parseCommand(startSpec, ['--config', path, '--pg-port', '7002']);
  t.match(flags, { 'data-dir': '/tmp/x', 'pg-port': '7002', 'node-id': 'a', peers: 'a=h:1,b=h:2', 'epoch-ms': '3', host: '127.0.0.1' });
  t.end();
});

t.test('an unknown key is an error naming it', async (t) => {
  const r = await ordo(['start', '--config', configFile({ dataDir: '/tmp/x', pgprot: 7001 })]);
  t.equal(r.code, 2);
  t.match(r.stderr, /unknown key "pgprot"/);
});

t.test('a one-time flag is refused in the file', (t) => {
  t.throws(() => parseCommand(startSpec, ['--config', configFile({ bootstrap: true })]), { name: 'UsageError', message: /"bootstrap" is accepted on the command line only/ });
  t.end();
});

t.test('a value of the wrong type is an error naming the key', (t) => {
  t.throws(() => parseCommand(startSpec, ['--config', configFile({ pgPort: [1] })]), { name: 'UsageError', message: /"pgPort" must be a string or a number/ });
  t.end();
});

t.test('ordo start runs a cluster node from a config file, with a flag overriding it', async (t) => {
  const host = '127.0.0.1';
  const [pgPort, httpInFile, httpPort, raftPort] = [await freePort(host), await freePort(host), await freePort(host), await freePort(host)];
  const path = configFile({
    dataDir: join(scratchDir('ordo-config-node-'), 'data'),
    host,
    pgPort,
    httpPort: httpInFile,
    nodeId: 'solo',
    clusterId: 'configured',
    raftListen: `${host}:${raftPort}`,
    peers: { solo: `${host}:${raftPort}` },
    tickMs: 20,
  });
  const child = spawn(process.execPath, [ORDO, 'start', '--config', path, '--http-port', String(httpPort), '--bootstrap'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.teardown(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  const h = await waitFor('the node to lead', async () => {
    const health = (await fetchHealth(host, httpPort)) as { pgPort: number; cluster: { nodeId: string; clusterId: string; role: string; raftPort: number } } | undefined;
    return health?.cluster.role === 'leader' ? health : undefined;
  });
  t.match(h, { pgPort, cluster: { nodeId: 'solo', clusterId: 'configured', raftPort } }, 'settings from the file');
  t.equal(await fetchHealth(host, httpInFile), undefined, "the file's HTTP port was overridden by --http-port");
});
