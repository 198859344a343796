import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { AbortRequest as _tcc_v1_AbortRequest, AbortRequest__Output as _tcc_v1_AbortRequest__Output } from './tcc/v1/AbortRequest';
import type { AdminClient as _tcc_v1_AdminClient, AdminDefinition as _tcc_v1_AdminDefinition } from './tcc/v1/Admin';
import type { BeginRequest as _tcc_v1_BeginRequest, BeginRequest__Output as _tcc_v1_BeginRequest__Output } from './tcc/v1/BeginRequest';
import type { BeginResponse as _tcc_v1_BeginResponse, BeginResponse__Output as _tcc_v1_BeginResponse__Output } from './tcc/v1/BeginResponse';
import type { Branch as _tcc_v1_Branch, Branch__Output as _tcc_v1_Branch__Output } from './tcc/v1/Branch';
import type { BranchSpec as _tcc_v1_BranchSpec, BranchSpec__Output as _tcc_v1_BranchSpec__Output } from './tcc/v1/BranchSpec';
import type { CoordinatorClient as _tcc_v1_CoordinatorClient, CoordinatorDefinition as _tcc_v1_CoordinatorDefinition } from './tcc/v1/Coordinator';
import type { ExecuteRequest as _tcc_v1_ExecuteRequest, ExecuteRequest__Output as _tcc_v1_ExecuteRequest__Output } from './tcc/v1/ExecuteRequest';
import type { FinishRequest as _tcc_v1_FinishRequest, FinishRequest__Output as _tcc_v1_FinishRequest__Output } from './tcc/v1/FinishRequest';
import type { GetTransactionRequest as _tcc_v1_GetTransactionRequest, GetTransactionRequest__Output as _tcc_v1_GetTransactionRequest__Output } from './tcc/v1/GetTransactionRequest';
import type { ListTransactionsRequest as _tcc_v1_ListTransactionsRequest, ListTransactionsRequest__Output as _tcc_v1_ListTransactionsRequest__Output } from './tcc/v1/ListTransactionsRequest';
import type { ListTransactionsResponse as _tcc_v1_ListTransactionsResponse, ListTransactionsResponse__Output as _tcc_v1_ListTransactionsResponse__Output } from './tcc/v1/ListTransactionsResponse';
import type { PhaseLog as _tcc_v1_PhaseLog, PhaseLog__Output as _tcc_v1_PhaseLog__Output } from './tcc/v1/PhaseLog';
import type { ResolveBranchRequest as _tcc_v1_ResolveBranchRequest, ResolveBranchRequest__Output as _tcc_v1_ResolveBranchRequest__Output } from './tcc/v1/ResolveBranchRequest';
import type { Transaction as _tcc_v1_Transaction, Transaction__Output as _tcc_v1_Transaction__Output } from './tcc/v1/Transaction';
import type { TryRequest as _tcc_v1_TryRequest, TryRequest__Output as _tcc_v1_TryRequest__Output } from './tcc/v1/TryRequest';
import type { TryResponse as _tcc_v1_TryResponse, TryResponse__Output as _tcc_v1_TryResponse__Output } from './tcc/v1/TryResponse';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  tcc: {
    v1: {
      AbortRequest: MessageTypeDefinition<_tcc_v1_AbortRequest, _tcc_v1_AbortRequest__Output>
      Admin: SubtypeConstructor<typeof grpc.Client, _tcc_v1_AdminClient> & { service: _tcc_v1_AdminDefinition }
      BeginRequest: MessageTypeDefinition<_tcc_v1_BeginRequest, _tcc_v1_BeginRequest__Output>
      BeginResponse: MessageTypeDefinition<_tcc_v1_BeginResponse, _tcc_v1_BeginResponse__Output>
      Branch: MessageTypeDefinition<_tcc_v1_Branch, _tcc_v1_Branch__Output>
      BranchSpec: MessageTypeDefinition<_tcc_v1_BranchSpec, _tcc_v1_BranchSpec__Output>
      Coordinator: SubtypeConstructor<typeof grpc.Client, _tcc_v1_CoordinatorClient> & { service: _tcc_v1_CoordinatorDefinition }
      ExecuteRequest: MessageTypeDefinition<_tcc_v1_ExecuteRequest, _tcc_v1_ExecuteRequest__Output>
      FinishRequest: MessageTypeDefinition<_tcc_v1_FinishRequest, _tcc_v1_FinishRequest__Output>
      GetTransactionRequest: MessageTypeDefinition<_tcc_v1_GetTransactionRequest, _tcc_v1_GetTransactionRequest__Output>
      ListTransactionsRequest: MessageTypeDefinition<_tcc_v1_ListTransactionsRequest, _tcc_v1_ListTransactionsRequest__Output>
      ListTransactionsResponse: MessageTypeDefinition<_tcc_v1_ListTransactionsResponse, _tcc_v1_ListTransactionsResponse__Output>
      PhaseLog: MessageTypeDefinition<_tcc_v1_PhaseLog, _tcc_v1_PhaseLog__Output>
      PhaseTwoState: EnumTypeDefinition
      ResolveBranchRequest: MessageTypeDefinition<_tcc_v1_ResolveBranchRequest, _tcc_v1_ResolveBranchRequest__Output>
      Status: EnumTypeDefinition
      Transaction: MessageTypeDefinition<_tcc_v1_Transaction, _tcc_v1_Transaction__Output>
      TryOutcome: EnumTypeDefinition
      TryRequest: MessageTypeDefinition<_tcc_v1_TryRequest, _tcc_v1_TryRequest__Output>
      TryResponse: MessageTypeDefinition<_tcc_v1_TryResponse, _tcc_v1_TryResponse__Output>
    }
  }
}

