/**
 * A small Prometheus text-format registry: counters and gauges with labels.
 * Enough for the coordinator's operational counters without pulling a
 * metrics library into the hot path; rendering is the only allocation-heavy
 * part and happens per scrape.
 */

type Labels<L extends string> = Partial<Record<L, string>>;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function seriesKey(labelNames: readonly string[], labels: Record<string, string | undefined>): string {
  return labelNames.map((n) => labels[n] ?? '').join('\u0000');
}

function renderLabels(labelNames: readonly string[], key: string): string {
  if (labelNames.length === 0) return '';
  const values = key.split('\u0000');
  return `{${labelNames.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`).join(',')}}`;
}

abstract class Metric<L extends string> {
  protected readonly series = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
    private readonly type: 'counter' | 'gauge',
  ) {
    if (!NAME.test(name)) throw new Error(`invalid metric name ${name}`);
  }

  protected add(labels: Labels<L>, n: number): void {
    const key = seriesKey(this.labelNames, labels);
    this.series.set(key, (this.series.get(key) ?? 0) + n);
  }

  /** Current value of one series (0 when never touched). */
  get(labels: Labels<L> = {}): number {
    return this.series.get(seriesKey(this.labelNames, labels)) ?? 0;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    if (this.series.size === 0 && this.labelNames.length === 0) lines.push(`${this.name} 0`);
    for (const [key, value] of this.series) lines.push(`${this.name}${renderLabels(this.labelNames, key)} ${value}`);
    return lines.join('\n');
  }
}

export class Counter<L extends string = never> extends Metric<L> {
  constructor(name: string, help: string, labelNames: readonly L[] = []) {
    super(name, help, labelNames, 'counter');
  }

  inc(labels: Labels<L> = {}, n = 1): void {
    if (n < 0) throw new Error(`counter ${this.name} cannot decrease`);
    this.add(labels, n);
  }
}

export class Gauge<L extends string = never> extends Metric<L> {
  constructor(name: string, help: string, labelNames: readonly L[] = []) {
    super(name, help, labelNames, 'gauge');
  }

  set(labels: Labels<L>, value: number): void {
    this.series.set(seriesKey(this.labelNames, labels), value);
  }

  inc(labels: Labels<L> = {}, n = 1): void {
    this.add(labels, n);
  }

  dec(labels: Labels<L> = {}, n = 1): void {
    this.add(labels, -n);
  }
}

/** Holds metrics and renders them in the Prometheus text exposition format. */
export class MetricsRegistry {
  private readonly metrics: Metric<string>[] = [];

  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    const c = new Counter<L>(name, help, labelNames);
    this.metrics.push(c);
    return c;
  }

  gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    const g = new Gauge<L>(name, help, labelNames);
    this.metrics.push(g);
    return g;
  }

  render(): string {
    return this.metrics.map((m) => m.render()).join('\n') + '\n';
  }
}
