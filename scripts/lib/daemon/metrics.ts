// A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text
// exposition format (version 0.0.4), which `promtool check metrics` judges in the tests. No client
// library: the format is a few lines, and flanneld must stay one file with no dependencies.

type Labels = Record<string, string>

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/

function labelText(l: Labels): string {
  const keys = Object.keys(l).sort()
  if (!keys.length) return ''
  // The format's escapes for label values: backslash, double quote, newline.
  return `{${keys.map((k) => `${k}="${l[k].replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return String(v)
}

abstract class Metric {
  protected values = new Map<string, number>()
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
  ) {
    if (!NAME.test(name)) throw new Error(`metric name ${name}: not a valid Prometheus name`)
  }
  protected key(l: Labels): string {
    for (const k of Object.keys(l)) if (!LABEL.test(k) || k.startsWith('__')) throw new Error(`${this.name}: label ${k} is not valid`)
    return labelText(l)
  }
  header(): string {
    return `# HELP ${this.name} ${this.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${this.name} ${this.type}\n`
  }
  abstract samples(): string
}

export class Counter extends Metric {
  constructor(name: string, help: string) {
    if (!name.endsWith('_total')) throw new Error(`counter ${name}: must end in _total`)
    super(name, help, 'counter')
  }
  inc(l: Labels = {}, by = 1): void {
    if (by < 0) throw new Error(`${this.name}: a counter only goes up`)
    const k = this.key(l)
    this.values.set(k, (this.values.get(k) ?? 0) + by)
  }
  /** Make a labelled series visible at 0 before its first increment (rate() needs the zero). */
  touch(l: Labels = {}): void {
    const k = this.key(l)
    if (!this.values.has(k)) this.values.set(k, 0)
  }
  get(l: Labels = {}): number {
    return this.values.get(this.key(l)) ?? 0
  }
  samples(): string {
    return [...this.values].map(([k, v]) => `${this.name}${k} ${num(v)}\n`).join('')
  }
}

export class Gauge extends Metric {
  constructor(name: string, help: string) {
    super(name, help, 'gauge')
  }
  set(v: number, l: Labels = {}): void {
    this.values.set(this.key(l), v)
  }
  get(l: Labels = {}): number | undefined {
    return this.values.get(this.key(l))
  }
  samples(): string {
    return [...this.values].map(([k, v]) => `${this.name}${k} ${num(v)}\n`).join('')
  }
}

/** A histogram without labels: cumulative buckets, _sum and _count. */
export class Histogram extends Metric {
  private counts: number[]
  private sum = 0
  private count = 0
  constructor(
    name: string,
    help: string,
    readonly buckets: number[],
  ) {
    super(name, help, 'histogram')
    this.counts = buckets.map(() => 0)
  }
  observe(v: number): void {
    this.sum += v
    this.count++
    this.buckets.forEach((b, i) => {
      if (v <= b) this.counts[i]++
    })
  }
  get observations(): number {
    return this.count
  }
  samples(): string {
    const lines = this.buckets.map((b, i) => `${this.name}_bucket{le="${num(b)}"} ${this.counts[i]}\n`)
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}\n`, `${this.name}_sum ${num(this.sum)}\n`, `${this.name}_count ${this.count}\n`)
    return lines.join('')
  }
}

export class Registry {
  private metrics: Metric[] = []
  add<M extends Metric>(m: M): M {
    if (this.metrics.some((x) => x.name === m.name)) throw new Error(`metric ${m.name} registered twice`)
    this.metrics.push(m)
    return m
  }
  /** The exposition text: HELP and TYPE for every metric, then its samples. */
  render(): string {
    return this.metrics.map((m) => m.header() + m.samples()).join('')
  }
}
