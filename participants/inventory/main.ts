#!/usr/bin/env node
/**
 * The inventory service: `node dist/participants/inventory/main.js`
 * (`npm run participant:inventory`). Configuration: INVENTORY_* variables,
 * see participants/README.md.
 */
import { redactUrl } from '../shared/service-config';
import { runServiceMain } from '../shared/service-main';
import { loadInventoryConfig } from './inventory-config';
import { startInventoryService } from './inventory-service';

void runServiceMain({
  name: 'inventory',
  loadConfig: loadInventoryConfig,
  start: (config, logger) => startInventoryService(config, { logger }),
  describe: (config) => ({ redis: redactUrl(config.redisUrl), key_prefix: config.keyPrefix, seed_skus: config.seed.size }),
});
