import * as path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import * as grpc from '@grpc/grpc-js';
import type { ProtoGrpcType as CoordinatorProto } from '../generated/coordinator';
import type { ProtoGrpcType as ParticipantProto } from '../generated/participant';

/** Repository's `proto/` folder (this file runs from `dist/src/protocol/`). */
export const PROTO_ROOT = path.resolve(__dirname, '..', '..', '..', 'proto');

export const TCC_PROTO_FILES = ['tcc/v1/participant.proto', 'tcc/v1/coordinator.proto'];

/**
 * Must match the flags given to proto-loader-gen-types in package.json
 * (`npm run gen`): the generated types describe objects decoded this way.
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

export type TccGrpcObject = CoordinatorProto & ParticipantProto;

export interface LoadedTccProto {
  packageDefinition: protoLoader.PackageDefinition;
  grpcObject: TccGrpcObject;
}

let cached: LoadedTccProto | undefined;

/** Loads (once per process) the tcc.v1 protos: Participant, Coordinator, Admin. */
export function loadTccProto(): LoadedTccProto {
  if (!cached) {
    const packageDefinition = protoLoader.loadSync(TCC_PROTO_FILES, LOADER_OPTIONS);
    const grpcObject = grpc.loadPackageDefinition(packageDefinition) as unknown as TccGrpcObject;
    cached = { packageDefinition, grpcObject };
  }
  return cached;
}
