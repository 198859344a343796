// Original file: proto/tcc/v1/coordinator.proto

import type { Transaction as _tcc_v1_Transaction, Transaction__Output as _tcc_v1_Transaction__Output } from '../../tcc/v1/Transaction';

export interface ListTransactionsResponse {
  'transactions'?: (_tcc_v1_Transaction)[];
  'next_page_token'?: (string);
}

export interface ListTransactionsResponse__Output {
  'transactions': (_tcc_v1_Transaction__Output)[];
  'next_page_token': (string);
}
