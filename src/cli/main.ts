#!/usr/bin/env node
// The `ordo` command: dispatches to its subcommands. Every subcommand takes --help.

import { OrdoError, errorMessage } from '../util/index.js';
import { UsageError } from './args.js';

interface Command {
  readonly name: string;
  readonly summary: string;
  readonly run: (argv: readonly string[]) => Promise<void>;
}

const commands: readonly Command[] = [
  {
    name: 'start',
    summary: 'start a node: single, or a cluster member with --node-id/--peers',
    run: async (argv) => (await import('./start.js')).start(argv),
  },
  {
    name: 'cluster start',
    summary: 'start a local cluster of separate node processes on loopback',
    run: async (argv) => (await import('./cluster.js')).clusterStart(argv),
  },
  {
    name: 'cluster status',
    summary: "show each local cluster node's role, term, positions and Postgres port",
    run: async (argv) => (await import('./cluster.js')).clusterStatus(argv),
  },
  {
    name: 'cluster stop',
    summary: 'stop the nodes of a local cluster',
    run: async (argv) => (await import('./cluster.js')).clusterStop(argv),
  },
  {
    name: 'cluster add-node',
    summary: 'add a node to a local cluster: started as a learner, promoted to voter once caught up',
    run: async (argv) => (await import('./cluster.js')).clusterAddNode(argv),
  },
  {
    name: 'cluster remove-node',
    summary: 'remove a node from a local cluster and stop it',
    run: async (argv) => (await import('./cluster.js')).clusterRemoveNode(argv),
  },
  {
    name: 'cluster transfer-leader',
    summary: 'hand leadership of a local cluster to another voter',
    run: async (argv) => (await import('./cluster.js')).clusterTransferLeader(argv),
  },
  {
    name: 'user add',
    summary: 'add a user for SCRAM-SHA-256 authentication (only a verifier is stored)',
    run: async (argv) => (await import('./user.js')).userAdd(argv),
  },
  {
    name: 'user remove',
    summary: 'remove a SCRAM user',
    run: async (argv) => (await import('./user.js')).userRemove(argv),
  },
  {
    name: 'log dump',
    summary: 'print the input log as JSON lines, one per transaction',
    run: async (argv) => (await import('./audit.js')).logDump(argv),
  },
  {
    name: 'replay',
    summary: 'rebuild a data directory from a log alone (point-in-time with --to)',
    run: async (argv) => (await import('./audit.js')).replay(argv),
  },
  {
    name: 'checksum',
    summary: "print a data directory's applied position and state checksum",
    run: async (argv) => (await import('./audit.js')).checksum(argv),
  },
  {
    name: 'sim raft',
    summary: 'run the deterministic Raft simulator over many seeds, or replay one',
    run: async (argv) => (await import('./sim.js')).simRaft(argv),
  },
  {
    name: 'bench engine',
    summary: 'run an in-process engine benchmark and print JSON',
    run: async (argv) => (await import('../../bench/engine.js')).benchEngine(argv),
  },
];

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    'usage: ordo <command> [flags]',
    '',
    'OrdoDB: a log-centric SQL database with deterministic (Calvin-style) ordering.',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    "Run 'ordo <command> --help' for a command's flags.",
  ].join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(`${usage()}\n`);
    return argv.length === 0 ? 2 : 0;
  }
  const command =
    commands.find((c) => c.name === `${argv[0]} ${argv[1] ?? ''}`) ?? commands.find((c) => c.name === argv[0]);
  if (command === undefined) {
    process.stderr.write(`ordo: unknown command '${argv.join(' ')}'\n\n${usage()}\n`);
    return 2;
  }
  const rest = argv.slice(command.name.split(' ').length);
  try {
    await command.run(rest);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`ordo ${command.name}: ${err.message}\n`);
      return 2;
    }
    const code = err instanceof OrdoError ? ` [${err.code}]` : '';
    process.stderr.write(`ordo ${command.name}: error${code}: ${errorMessage(err)}\n`);
    if (!(err instanceof OrdoError) && process.env.ORDO_DEBUG !== undefined) {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? '') : ''}\n`);
    }
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
