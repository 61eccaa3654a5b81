// Node-to-node RPC: Raft transports — gRPC carrying Avro-encoded messages, and an in-process one for
// tests. The transport interface and the Avro codecs belong to the Raft part (sequencer/raft).

export { GrpcTransport, GrpcTransportDefaults, RAFT_SEND_PATH, RAFT_SERVICE_NAME, raftServiceDefinition } from './grpcTransport.js';
export type { GrpcTransportOptions } from './grpcTransport.js';
export { InProcessNetwork, InProcessTransport } from './inProcess.js';
export type { InProcessNetworkOptions } from './inProcess.js';
export { ForwardClient, SEQUENCER_FORWARD_PATH, SEQUENCER_SERVICE_NAME, sequencerService, sequencerServiceDefinition } from './forward.js';
export type { ForwardRequest, ForwardResponse } from './forward.js';
