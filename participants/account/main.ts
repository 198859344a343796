#!/usr/bin/env node
/**
 * The account service: `node dist/participants/account/main.js`
 * (`npm run participant:account`). Configuration: ACCOUNT_* variables, see
 * participants/README.md.
 */
import { redactUrl } from '../shared/service-config';
import { runServiceMain } from '../shared/service-main';
import { loadAccountConfig } from './account-config';
import { startAccountService } from './account-service';

void runServiceMain({
  name: 'account',
  loadConfig: loadAccountConfig,
  start: (config, logger) => startAccountService(config, { logger }),
  describe: (config) => ({ db: redactUrl(config.dbUrl), seed_accounts: config.seed.size }),
});
