import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { BranchAnswer as _tcc_v1_BranchAnswer, BranchAnswer__Output as _tcc_v1_BranchAnswer__Output } from './tcc/v1/BranchAnswer';
import type { BranchCall as _tcc_v1_BranchCall, BranchCall__Output as _tcc_v1_BranchCall__Output } from './tcc/v1/BranchCall';
import type { BranchRequest as _tcc_v1_BranchRequest, BranchRequest__Output as _tcc_v1_BranchRequest__Output } from './tcc/v1/BranchRequest';
import type { BranchResponse as _tcc_v1_BranchResponse, BranchResponse__Output as _tcc_v1_BranchResponse__Output } from './tcc/v1/BranchResponse';
import type { ParticipantClient as _tcc_v1_ParticipantClient, ParticipantDefinition as _tcc_v1_ParticipantDefinition } from './tcc/v1/Participant';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  tcc: {
    v1: {
      BranchAnswer: MessageTypeDefinition<_tcc_v1_BranchAnswer, _tcc_v1_BranchAnswer__Output>
      BranchCall: MessageTypeDefinition<_tcc_v1_BranchCall, _tcc_v1_BranchCall__Output>
      BranchRequest: MessageTypeDefinition<_tcc_v1_BranchRequest, _tcc_v1_BranchRequest__Output>
      BranchResponse: MessageTypeDefinition<_tcc_v1_BranchResponse, _tcc_v1_BranchResponse__Output>
      Participant: SubtypeConstructor<typeof grpc.Client, _tcc_v1_ParticipantClient> & { service: _tcc_v1_ParticipantDefinition }
      Phase: EnumTypeDefinition
    }
  }
}

