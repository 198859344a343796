import type Redis from 'ioredis';

/** Units of one SKU. `available + reserved + sold` only changes when stock is added. */
export interface StockLevels {
  /** Can be reserved by a new Try. */
  readonly available: number;
  /** Held by Tries not yet confirmed or cancelled. */
  readonly reserved: number;
  /** Confirmed. */
  readonly sold: number;
}

/** Hash fields of a SKU's stock. */
export const STOCK_FIELDS = ['available', 'reserved', 'sold'] as const;

/**
 * Where the inventory lives in Redis: SKU `x` is the hash `<prefix>stock:x`
 * with the fields of {@link StockLevels}; the barrier records are under
 * `<prefix>barrier:`. Business changes are not made here but described on
 * the barrier's change set (inventory-handlers.ts), which applies them
 * atomically with the barrier record.
 */
export class InventoryStore {
  constructor(
    private readonly redis: Redis,
    readonly keyPrefix: string,
  ) {}

  /** The prefix of the RedisBarrier's records, derived from the key prefix. */
  get barrierPrefix(): string {
    return `${this.keyPrefix}barrier:`;
  }

  stockKey(sku: string): string {
    return `${this.keyPrefix}stock:${sku}`;
  }

  /** Whether the SKU exists (has a stock hash). */
  async exists(sku: string): Promise<boolean> {
    return (await this.redis.exists(this.stockKey(sku))) === 1;
  }

  /**
   * Creates the stock of each SKU not present yet: `available` = the seed,
   * `reserved` and `sold` = 0. HSETNX per field, so an existing SKU is left
   * exactly as it is, even when several replicas seed at once.
   */
  async seed(seed: ReadonlyMap<string, number>): Promise<void> {
    if (seed.size === 0) return;
    const multi = this.redis.multi();
    for (const [sku, available] of seed) {
      const key = this.stockKey(sku);
      multi.hsetnx(key, 'available', available).hsetnx(key, 'reserved', 0).hsetnx(key, 'sold', 0);
    }
    await multi.exec();
  }

  /** The SKU's stock, or undefined when it does not exist. */
  async stock(sku: string): Promise<StockLevels | undefined> {
    const values = await this.redis.hmget(this.stockKey(sku), ...STOCK_FIELDS);
    if (values.every((v) => v === null)) return undefined;
    const [available, reserved, sold] = values.map((v) => Number(v ?? 0));
    return { available, reserved, sold };
  }
}
