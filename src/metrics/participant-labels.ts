/** Options of {@link ParticipantLabels}. */
export interface ParticipantLabelsOptions {
  /**
   * Targets reported under their own name; every other target is `other`.
   * Default: none (then the first `max` targets seen get their own label).
   */
  allowlist?: readonly string[];
  /** Without an allowlist, most distinct targets labelled by name before the rest become `other`. Default 50. */
  max?: number;
}

/** The label value every target outside the bounded set is reported under. */
export const OTHER_PARTICIPANT = 'other';

/**
 * Bounds the `participant` label: targets come from clients, and one time
 * series per distinct target would let a client grow Prometheus without
 * limit. The set is the allowlist when given, else the first `max` targets
 * this process has seen; the rest share `other`.
 */
export class ParticipantLabels {
  private readonly allowed: ReadonlySet<string> | undefined;
  private readonly seen = new Set<string>();
  private readonly max: number;

  constructor(options: ParticipantLabelsOptions = {}) {
    this.allowed = options.allowlist?.length ? new Set(options.allowlist) : undefined;
    this.max = options.max ?? 50;
  }

  label(target: string): string {
    if (this.allowed) return this.allowed.has(target) ? target : OTHER_PARTICIPANT;
    if (this.seen.has(target)) return target;
    if (this.seen.size < this.max) {
      this.seen.add(target);
      return target;
    }
    return OTHER_PARTICIPANT;
  }
}
