// `ordo start`: runs a node (alone, or a member of a Raft cluster) until SIGTERM or SIGINT.

import type { Server } from 'node:http';
import { resolve } from 'node:path';
import { ClusterInitialState, NodeDefaults, nodeHttpServer, openClusterNode, openNode, type ClusterOptions } from '../node/index.js';
import { AuthMethod, PgServerDefaults, authMethod, startPgServer, type PgServer } from '../sql/index.js';
import { UsageError, optionalInt, parseCommand, type CommandSpec, type ParsedFlags } from './args.js';

export const StartDefaults = {
  dataDir: 'data',
  host: '127.0.0.1',
  httpPort: 8480,
  pgPort: PgServerDefaults.port,
} as const;

export const startSpec: CommandSpec = {
  usage:
    'ordo start [--config FILE] [--data-dir DIR] [--host HOST] [--pg-port PORT] [--http-port PORT] [--epoch-ms MS] [--node-id ID --cluster-id C --raft-listen HOST:PORT --peers ID=HOST:PORT,... [--bootstrap | --join]]',
  summary:
    'Starts an OrdoDB node: input log, sequencer, scheduler and store in one process on one data directory, serving the PostgreSQL wire protocol (trust authentication, or SCRAM-SHA-256 with --auth scram) and an HTTP endpoint for health. Alone by default; with --node-id, --cluster-id, --raft-listen and --peers it is a member of a Raft-replicated cluster (every member holds all data, followers forward writes to the leader); a member\'s first start says whether it founds the cluster (--bootstrap) or joins a running one (--join). The HTTP port also takes the admin requests behind `ordo cluster add-node|remove-node|transfer-leader`. Stops cleanly on SIGTERM or SIGINT.',
  flags: {
    config: { type: 'string', valueName: 'FILE', configFile: true, help: 'read these flags from a JSON file (see below)', commandLineOnly: true },
    'data-dir': { type: 'string', valueName: 'DIR', help: 'where the data lives (created if missing)', default: StartDefaults.dataDir },
    host: { type: 'string', valueName: 'HOST', help: 'address to listen on', default: StartDefaults.host },
    'pg-port': {
      type: 'string',
      valueName: 'PORT',
      help: 'PostgreSQL wire-protocol port (0 picks a free port; not 5432, so a local PostgreSQL does not collide)',
      default: String(StartDefaults.pgPort),
    },
    'http-port': {
      type: 'string',
      valueName: 'PORT',
      help: 'HTTP port for /health and, on cluster nodes, the admin requests (0 picks a free port)',
      default: String(StartDefaults.httpPort),
    },
    'epoch-ms': {
      type: 'string',
      valueName: 'MS',
      help: 'how long the sequencer collects transactions into one batch; 0: no fixed epoch, a batch closes as soon as the node has taken in what arrived (group commit, ADR 0006)',
      default: String(NodeDefaults.epochMs),
    },
    'node-id': { type: 'string', valueName: 'ID', help: 'cluster mode: this node\'s id (one of --peers)' },
    'cluster-id': { type: 'string', valueName: 'C', help: 'cluster mode: the cluster id (a data directory of another cluster is refused)' },
    'raft-listen': { type: 'string', valueName: 'HOST:PORT', help: 'cluster mode: where this node serves Raft and forwarded writes' },
    peers: {
      type: 'string',
      valueName: 'ID=HOST:PORT,...',
      keyValueList: true,
      help: 'cluster mode: every member\'s Raft address, this node included (members added or removed later are also learned from the log)',
    },
    bootstrap: {
      type: 'boolean',
      commandLineOnly: true,
      help: 'cluster mode, first start only: found a new cluster whose voters are --peers (ignored once the data directory holds Raft state)',
    },
    join: {
      type: 'boolean',
      commandLineOnly: true,
      help: 'cluster mode, first start only: wait to be added to a running cluster by its leader (ordo cluster add-node). Without --bootstrap or --join a node refuses a data directory with no Raft state, so a wiped member never rejoins with a forgotten vote',
    },
    'tick-ms': { type: 'string', valueName: 'MS', help: 'cluster mode: the Raft tick (election timeout is 10 ticks, randomized up to 20)' },
    auth: {
      type: 'string',
      valueName: 'METHOD',
      help: 'Postgres client authentication: trust, or scram (SCRAM-SHA-256 for the users of `ordo user add`)',
      default: AuthMethod.trust,
    },
    'max-batch-txns': {
      type: 'string',
      valueName: 'N',
      help: 'a batch closes early when it holds this many transactions',
      default: String(NodeDefaults.maxBatchTxns),
    },
  },
};

/** Parses the cluster flags; undefined without --node-id (single node). */
export function clusterOptions(flags: ParsedFlags): ClusterOptions | undefined {
  const nodeId = flags['node-id'];
  if (nodeId === undefined) {
    for (const name of ['cluster-id', 'raft-listen', 'peers', 'bootstrap', 'join'] as const) {
      if (flags[name] !== undefined) throw new UsageError(`--${name} needs --node-id`);
    }
    return undefined;
  }
  if (flags.bootstrap === true && flags.join === true) throw new UsageError('--bootstrap founds a cluster and --join joins one: give one of them');
  const initialState = flags.bootstrap === true ? ClusterInitialState.bootstrap : flags.join === true ? ClusterInitialState.join : undefined;
  const clusterId = flags['cluster-id'];
  const listen = flags['raft-listen'];
  const peerList = flags.peers;
  if (typeof clusterId !== 'string' || typeof listen !== 'string' || typeof peerList !== 'string') {
    throw new UsageError('cluster mode needs --node-id, --cluster-id, --raft-listen and --peers');
  }
  const peers: Record<string, string> = {};
  for (const item of peerList.split(',').filter((p) => p !== '')) {
    const eq = item.indexOf('=');
    const id = item.slice(0, eq);
    const address = item.slice(eq + 1);
    if (eq <= 0 || !/^[^:]+:\d+$/.test(address)) throw new UsageError(`--peers: "${item}" is not ID=HOST:PORT`);
    peers[id] = address;
  }
  if (!Object.hasOwn(peers, String(nodeId))) throw new UsageError(`--peers must list this node (${String(nodeId)})`);
  const tickMs = optionalInt(flags, 'tick-ms', 1);
  return {
    nodeId: String(nodeId),
    clusterId,
    listen,
    peers,
    ...(tickMs === undefined ? {} : { tickMs }),
    ...(initialState === undefined ? {} : { initialState }),
  };
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolvePort(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

export async function start(argv: readonly string[]): Promise<void> {
  const flags = parseCommand(startSpec, argv);
  if (flags === undefined) return;
  const dataDir = resolve(String(flags['data-dir']));
  const host = String(flags.host);
  const httpPort = optionalInt(flags, 'http-port', 0) ?? StartDefaults.httpPort;
  const pgPort = optionalInt(flags, 'pg-port', 0) ?? StartDefaults.pgPort;
  const cluster = clusterOptions(flags);
  const nodeOptions = {
    dataDir,
    epochMs: optionalInt(flags, 'epoch-ms', 0) ?? NodeDefaults.epochMs,
    maxBatchTxns: optionalInt(flags, 'max-batch-txns', 1) ?? NodeDefaults.maxBatchTxns,
  };
  const node = cluster === undefined ? openNode(nodeOptions) : await openClusterNode({ ...nodeOptions, cluster });
  const ports = { pg: 0 };
  const server = nodeHttpServer(node, ports);
  let port: number;
  let pg: PgServer;
  try {
    port = await listen(server, httpPort, host);
    pg = await startPgServer({ node, host, port: pgPort, auth: authMethod(String(flags.auth)) });
    ports.pg = pg.port;
  } catch (err) {
    server.close();
    await node.close();
    throw err;
  }
  process.stdout.write(
    `OrdoDB is running (pid ${process.pid})\n` +
      `  data directory: ${dataDir}\n` +
      `  postgres:       postgresql://postgres@${host}:${pg.port}/postgres (psql -h ${host} -p ${pg.port} -U postgres postgres)\n` +
      `  health:         http://${host}:${port}/health\n` +
      (cluster === undefined ? '' : `  cluster:        ${cluster.clusterId}, node ${cluster.nodeId}, raft on ${cluster.listen}\n`) +
      `  applied log position ${node.appliedPosition}, state checksum ${node.checksum}\n` +
      `Stop it with Ctrl-C or SIGTERM.\n`,
  );
  await new Promise<void>((resolveStop) => {
    const stop = (signal: string): void => {
      process.stdout.write(`received ${signal}, shutting down\n`);
      server.close();
      // Connections close before the node, so no statement is submitted to a closed sequencer.
      pg.close()
        .then(() => node.close())
        .then(resolveStop, (err: unknown) => {
          process.stderr.write(`shutdown failed: ${err instanceof Error ? err.message : String(err)}\n`);
          process.exitCode = 1;
          resolveStop();
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  process.stdout.write('stopped\n');
}
