import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** Seconds of history a chart keeps. */
const WINDOW = 120;

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];

/**
 * A live line chart (uPlot) whose series appear as values for new names arrive: one per domain
 * for MIPS, one per exit kind or hypercall. `push` adds one point per series at time `t`
 * (seconds); the element's `data-points` attribute counts the points pushed, so tests and
 * screen readers can tell the chart is live.
 */
export class LiveChart {
  private plot: uPlot | null = null;
  private readonly names: string[] = [];
  private readonly xs: number[] = [];
  private readonly ys: (number | null)[][] = [];
  private points = 0;
  readonly element: HTMLElement;

  constructor(
    parent: HTMLElement,
    readonly title: string,
    private readonly unit: string,
  ) {
    this.element = document.createElement('figure');
    this.element.className = 'chart';
    this.element.dataset.points = '0';
    this.element.setAttribute('aria-label', title);
    parent.append(this.element);
  }

  /** One sample: a value per series name (names not seen before become new series). */
  push(t: number, values: Readonly<Record<string, number>>): void {
    let grew = false;
    for (const name of Object.keys(values)) {
      if (!this.names.includes(name)) {
        this.names.push(name);
        this.ys.push(this.xs.map(() => null));
        grew = true;
      }
    }
    this.xs.push(t);
    for (let i = 0; i < this.names.length; i++) this.ys[i]!.push(values[this.names[i]!] ?? null);
    while (this.xs.length > 0 && this.xs[0]! < t - WINDOW) {
      this.xs.shift();
      for (const y of this.ys) y.shift();
    }
    this.points++;
    this.element.dataset.points = String(this.points);
    const data = [this.xs, ...this.ys] as uPlot.AlignedData;
    if (grew || this.plot === null) this.rebuild(data);
    else this.plot.setData(data);
  }

  /** Forget every series (another domain was chosen). */
  clear(): void {
    this.names.length = 0;
    this.xs.length = 0;
    this.ys.length = 0;
    this.plot?.destroy();
    this.plot = null;
  }

  private rebuild(data: uPlot.AlignedData): void {
    this.plot?.destroy();
    const width = Math.max(280, this.element.clientWidth || 420);
    this.plot = new uPlot(
      {
        title: this.title,
        width,
        height: 180,
        scales: { x: { time: true } },
        axes: [{}, { label: this.unit, size: 60 }],
        series: [
          {},
          ...this.names.map((label, i) => ({
            label,
            stroke: PALETTE[i % PALETTE.length]!,
            width: 1.5,
            spanGaps: true,
          })),
        ],
      },
      data,
      this.element,
    );
  }
}

/** Per-second rates between two samples of monotonic counters. */
export function rates(
  prev: Readonly<Record<string, number>>,
  now: Readonly<Record<string, number>>,
  seconds: number,
): Record<string, number> {
  const out: Record<string, number> = {};
  if (seconds <= 0) return out;
  for (const [k, v] of Object.entries(now)) out[k] = Math.max(0, (v - (prev[k] ?? 0)) / seconds);
  return out;
}
