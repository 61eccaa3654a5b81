// The sequencer's Forward service: a follower hands a submission to the leader. Service ordo.Sequencer,
// one unary method Forward(ForwardRequest) → ForwardResponse (schemas/rpc/), with Avro serializers like
// ordo.Raft (grpcTransport.ts), and served on the same gRPC server as Raft (one node-to-node port).
//
// The submission travels as an input-log record (logCodec's envelope, position 0): the log schema
// already encodes every transaction and control entry, with a checksum and schema fingerprint, so the
// leader proposes exactly what the follower was given.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import avro from 'avsc';
import { schemaDir } from '../util/index.js';

export const SEQUENCER_SERVICE_NAME = 'ordo.Sequencer';
export const SEQUENCER_FORWARD_PATH = '/ordo.Sequencer/Forward';

export interface ForwardRequest {
  readonly clusterId: string;
  readonly from: string;
  /** encodeLogEntry({ ...body, position: 0 }) */
  readonly entry: Buffer;
}

/** position > 0: committed at that position. position 0: refused with `code` (a SQLSTATE) and `message`. */
export interface ForwardResponse {
  readonly position: number;
  readonly code: string;
  readonly message: string;
  /** The leader the answering node knows of (empty if none): a refused follower retries there. */
  readonly leader: string;
}

/** The wire schemas live in schemas/rpc/ with every other schema that crosses a process boundary. */
function loadType(name: string): avro.Type {
  return avro.Type.forSchema(JSON.parse(readFileSync(join(schemaDir('rpc'), `${name}.avsc`), 'utf8')) as avro.Schema);
}

const requestType = loadType('ForwardRequest');
const responseType = loadType('ForwardResponse');

/** Bad bytes decode to undefined instead of throwing inside grpc-js. */
type Decoded<T> = T | undefined;

function decodeOrUndefined<T>(type: avro.Type, bytes: Buffer): Decoded<T> {
  try {
    return type.fromBuffer(bytes) as T;
  } catch {
    return undefined;
  }
}

export const sequencerServiceDefinition = {
  Forward: {
    path: SEQUENCER_FORWARD_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (r: ForwardRequest): Buffer => requestType.toBuffer(r),
    requestDeserialize: (bytes: Buffer): Decoded<ForwardRequest> => decodeOrUndefined<ForwardRequest>(requestType, bytes),
    responseSerialize: (r: ForwardResponse): Buffer => responseType.toBuffer(r),
    responseDeserialize: (bytes: Buffer): ForwardResponse => responseType.fromBuffer(bytes) as ForwardResponse,
    originalName: 'forward',
  },
} as const satisfies grpc.ServiceDefinition;

/** The service implementation for GrpcTransportOptions.services. */
export function sequencerService(handle: (request: ForwardRequest) => Promise<ForwardResponse>): {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
} {
  return {
    definition: sequencerServiceDefinition,
    implementation: {
      Forward: (call: grpc.ServerUnaryCall<Decoded<ForwardRequest>, ForwardResponse>, callback: grpc.sendUnaryData<ForwardResponse>) => {
        const request = call.request;
        if (request === undefined) {
          callback({ code: grpc.status.INVALID_ARGUMENT, details: 'malformed ForwardRequest' });
          return;
        }
        handle(request).then(
          (response) => callback(null, response),
          (err: unknown) => callback({ code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) }),
        );
      },
    },
  };
}

type ForwardCallback = (err: grpc.ServiceError | null, response?: ForwardResponse) => void;
interface SequencerClient extends grpc.Client {
  Forward(request: ForwardRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: ForwardCallback): grpc.ClientUnaryCall;
}
const SequencerClientConstructor = grpc.makeGenericClientConstructor(sequencerServiceDefinition, SEQUENCER_SERVICE_NAME);

/** One channel per leader address, reused across calls. */
export class ForwardClient {
  private readonly clients = new Map<string, SequencerClient>();

  /** Resolves with the leader's answer; rejects with the gRPC error (the outcome is then unknown). */
  forward(address: string, request: ForwardRequest, timeoutMs: number): Promise<ForwardResponse> {
    let client = this.clients.get(address);
    if (client === undefined) {
      client = new SequencerClientConstructor(address, grpc.credentials.createInsecure(), {
        'grpc.initial_reconnect_backoff_ms': 50,
        'grpc.max_reconnect_backoff_ms': 500,
      }) as unknown as SequencerClient;
      this.clients.set(address, client);
    }
    const c = client;
    return new Promise((resolve, reject) => {
      c.Forward(request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, response) => {
        if (err !== null || response === undefined) reject(err ?? new Error('empty ForwardResponse'));
        else resolve(response);
      });
    });
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
