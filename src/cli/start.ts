// `ordo start`: runs the embedded single-node database until SIGTERM or SIGINT.

import { createServer, type Server } from 'node:http';
import { resolve } from 'node:path';
import { NodeDefaults, openNode, type OrdoNode } from '../node/index.js';
import { PgServerDefaults, startPgServer, type PgServer } from '../sql/index.js';
import { optionalInt, parseCommand, type CommandSpec } from './args.js';

export const StartDefaults = {
  dataDir: 'data',
  host: '127.0.0.1',
  httpPort: 8480,
  pgPort: PgServerDefaults.port,
} as const;

export const startSpec: CommandSpec = {
  usage: 'ordo start [--data-dir DIR] [--host HOST] [--pg-port PORT] [--http-port PORT] [--epoch-ms MS]',
  summary:
    'Starts the embedded single-node OrdoDB database: input log, sequencer, scheduler and store in one process on one data directory, serving the PostgreSQL wire protocol (trust authentication) and an HTTP endpoint for health. Stops cleanly on SIGTERM or SIGINT.',
  flags: {
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
      help: 'HTTP port for /health (0 picks a free port)',
      default: String(StartDefaults.httpPort),
    },
    'epoch-ms': {
      type: 'string',
      valueName: 'MS',
      help: 'how long the sequencer collects transactions into one batch',
      default: String(NodeDefaults.epochMs),
    },
    'max-batch-txns': {
      type: 'string',
      valueName: 'N',
      help: 'a batch closes early when it holds this many transactions',
      default: String(NodeDefaults.maxBatchTxns),
    },
  },
};

function healthServer(node: OrdoNode): Server {
  return createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/health' || req.url === '/')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        `${JSON.stringify({
          status: 'ok',
          dataDir: node.dataDir,
          appliedPosition: node.appliedPosition,
          lastLogPosition: node.lastLogPosition,
          checksum: node.checksum,
        })}\n`,
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
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
  const node = openNode({
    dataDir,
    epochMs: optionalInt(flags, 'epoch-ms', 1) ?? NodeDefaults.epochMs,
    maxBatchTxns: optionalInt(flags, 'max-batch-txns', 1) ?? NodeDefaults.maxBatchTxns,
  });
  const server = healthServer(node);
  let port: number;
  let pg: PgServer;
  try {
    port = await listen(server, httpPort, host);
    pg = await startPgServer({ node, host, port: pgPort });
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
