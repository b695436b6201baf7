/** Summary figures of a sample, as the results tables print them. */
export interface Summary {
  readonly count: number;
  readonly min: number;
  readonly median: number;
  readonly p99: number;
  readonly max: number;
}

/** Nearest-rank percentile of an ascending-sorted sample. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function summarize(values: number[]): Summary {
  if (values.length === 0) throw new Error('no values to summarize');
  const sorted = [...values].sort((a, b) => a - b);
  return { count: sorted.length, min: sorted[0], median: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] };
}

export function formatSummary(s: Summary, unit = 's', digits = 3): string {
  const f = (v: number) => v.toFixed(digits);
  return `n=${s.count} min ${f(s.min)} / median ${f(s.median)} / p99 ${f(s.p99)} / max ${f(s.max)} ${unit}`;
}

const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** The opening of a plain SVG picture: white background and a centred title. */
function svgStart(title: string, width: number, height: number): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
}

/** A line of a time series: one value per second (left axis), or a step line on the right axis. */
export interface TimeSeriesLine {
  readonly label: string;
  readonly values: number[];
  readonly color: string;
  readonly axis?: 'left' | 'right';
  readonly dashed?: boolean;
  readonly width?: number;
}

/**
 * A time-series picture in the manner of the paper's Fig. 13(b): per-second values on the left
 * axis (throughput), a small count on the right axis (LB pods), x in seconds. Plain SVG.
 */
export function timeSeriesSvg(title: string, lines: TimeSeriesLine[], leftLabel: string, rightLabel: string, rightMax: number): string {
  const left = 60;
  const top = 40;
  const plotW = 720;
  const plotH = 260;
  const width = left + plotW + 60;
  const height = top + plotH + 50 + 16 * Math.ceil(lines.length / 3);
  const seconds = Math.max(...lines.map((l) => l.values.length)) - 1;
  const leftMax = Math.max(1, ...lines.filter((l) => l.axis !== 'right').flatMap((l) => l.values)) * 1.1;
  const x = (t: number) => left + (t / Math.max(1, seconds)) * plotW;
  const y = (v: number, axis?: string) => top + plotH - (v / (axis === 'right' ? rightMax : leftMax)) * plotH;
  const parts = svgStart(title, width, height);
  const y0 = top + plotH;
  parts.push(`<line x1="${left}" y1="${y0}" x2="${left + plotW}" y2="${y0}" stroke="black"/><line x1="${left}" y1="${top}" x2="${left}" y2="${y0}" stroke="black"/><line x1="${left + plotW}" y1="${top}" x2="${left + plotW}" y2="${y0}" stroke="black"/>`);
  for (let t = 0; t <= 5; t++) {
    parts.push(`<text x="${left - 6}" y="${(y((t * leftMax) / 5) + 4).toFixed(1)}" text-anchor="end">${((t * leftMax) / 5).toFixed(0)}</text>`);
  }
  for (let n = 0; n <= rightMax; n++) parts.push(`<text x="${left + plotW + 6}" y="${(y(n, 'right') + 4).toFixed(1)}">${n}</text>`);
  for (let t = 0; t <= seconds; t += 10) parts.push(`<text x="${x(t).toFixed(1)}" y="${y0 + 14}" text-anchor="middle">${t}</text>`);
  parts.push(`<text x="${left + plotW / 2}" y="${y0 + 30}" text-anchor="middle">time (s)</text>`);
  parts.push(`<text x="14" y="${top + plotH / 2}" text-anchor="middle" transform="rotate(-90 14 ${top + plotH / 2})">${esc(leftLabel)}</text>`);
  parts.push(`<text x="${width - 12}" y="${top + plotH / 2}" text-anchor="middle" transform="rotate(90 ${width - 12} ${top + plotH / 2})">${esc(rightLabel)}</text>`);
  lines.forEach((l, i) => {
    // Right-axis lines are counts: drawn as steps.
    const points = l.values.flatMap((v, t) => (l.axis === 'right' && t > 0 ? [[x(t), y(l.values[t - 1], l.axis)], [x(t), y(v, l.axis)]] : [[x(t), y(v, l.axis)]]));
    parts.push(`<polyline fill="none" stroke="${l.color}" stroke-width="${l.width ?? 1.5}"${l.dashed ? ' stroke-dasharray="5,3"' : ''} points="${points.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' ')}"/>`);
    const lx = left + (i % 3) * 240;
    const ly = y0 + 46 + 16 * Math.floor(i / 3);
    parts.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 20}" y2="${ly - 4}" stroke="${l.color}" stroke-width="2"${l.dashed ? ' stroke-dasharray="5,3"' : ''}/><text x="${lx + 26}" y="${ly}">${esc(l.label)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/**
 * A histogram picture in the manner of the paper's Fig. 13(c): one panel per series, bars of the
 * count per bin of delay. Plain SVG, no dependencies.
 */
export function histogramSvg(title: string, series: { label: string; values: number[] }[], binSeconds: number): string {
  const maxValue = Math.max(...series.flatMap((s) => s.values));
  const bins = Math.max(1, Math.ceil((maxValue + 1e-9) / binSeconds));
  const counts = series.map((s) => {
    const c = new Array<number>(bins).fill(0);
    for (const v of s.values) c[Math.min(bins - 1, Math.floor(v / binSeconds))]++;
    return c;
  });
  const maxCount = Math.max(...counts.flat());
  const panelW = 420;
  const panelH = 220;
  const left = 50;
  const top = 40;
  const bottom = 45;
  const width = left + series.length * (panelW + 30);
  const height = top + panelH + bottom;
  const barW = (panelW - 10) / bins;
  const parts = svgStart(title, width, height);
  series.forEach((s, i) => {
    const x0 = left + i * (panelW + 30);
    const y0 = top + panelH;
    parts.push(`<text x="${x0 + panelW / 2}" y="${top - 6}" text-anchor="middle">${esc(s.label)} (n=${s.values.length})</text>`);
    parts.push(`<line x1="${x0}" y1="${y0}" x2="${x0 + panelW}" y2="${y0}" stroke="black"/><line x1="${x0}" y1="${top}" x2="${x0}" y2="${y0}" stroke="black"/>`);
    counts[i].forEach((c, b) => {
      const h = (c / maxCount) * (panelH - 10);
      if (c > 0) parts.push(`<rect x="${(x0 + 5 + b * barW).toFixed(1)}" y="${(y0 - h).toFixed(1)}" width="${Math.max(1, barW - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="#4a7ab5"/>`);
    });
    const ticks = Math.min(bins, 8);
    for (let t = 0; t <= ticks; t++) {
      const value = (t * bins * binSeconds) / ticks;
      const x = x0 + 5 + (t * bins * barW) / ticks;
      parts.push(`<text x="${x.toFixed(1)}" y="${y0 + 14}" text-anchor="middle">${value.toFixed(binSeconds < 0.1 ? 2 : 1)}</text>`);
    }
    parts.push(`<text x="${x0 + panelW / 2}" y="${y0 + 32}" text-anchor="middle">ECMP update delay (s), bins of ${binSeconds} s</text>`);
    parts.push(`<text x="${x0 - 8}" y="${top + 8}" text-anchor="end">${maxCount}</text><text x="${x0 - 8}" y="${y0}" text-anchor="end">0</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/**
 * A scaling picture in the manner of the paper's Fig. 13(a): measured values against a small count
 * (bars), the line linear from the first point (x times its value) dashed over them, and reference
 * figures (what the lab carries without the caps) in the legend, a line where they fit the scale.
 * Plain SVG.
 */
export function scalingSvg(
  title: string,
  subtitle: string,
  points: { x: number; value: number }[],
  references: { label: string; value: number }[],
  yLabel: string,
  xLabel: string,
): string {
  const left = 70;
  const top = 56;
  const plotW = 480;
  const plotH = 280;
  const width = left + plotW + 380;
  const height = top + plotH + 50;
  const first = points.find((p) => p.x === 1) ?? points[0];
  const linear = (x: number) => (first.value / first.x) * x;
  const xs = points.map((p) => p.x);
  const yMax = Math.max(...points.map((p) => p.value), linear(Math.max(...xs))) * 1.15;
  const slot = plotW / (Math.max(...xs) + 1);
  const px = (x: number) => left + x * slot;
  const py = (v: number) => top + plotH - (v / yMax) * plotH;
  const parts = svgStart(title, width, height);
  parts.push(`<text x="${width / 2}" y="36" text-anchor="middle">${esc(subtitle)}</text>`);
  const y0 = top + plotH;
  parts.push(`<line x1="${left}" y1="${y0}" x2="${left + plotW}" y2="${y0}" stroke="black"/><line x1="${left}" y1="${top}" x2="${left}" y2="${y0}" stroke="black"/>`);
  for (let t = 0; t <= 5; t++) parts.push(`<text x="${left - 6}" y="${(py((t * yMax) / 5) + 4).toFixed(1)}" text-anchor="end">${((t * yMax) / 5).toFixed(0)}</text>`);
  parts.push(`<text x="16" y="${top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${top + plotH / 2})">${esc(yLabel)}</text>`);
  parts.push(`<text x="${left + plotW / 2}" y="${y0 + 32}" text-anchor="middle">${esc(xLabel)}</text>`);
  for (const p of points) {
    parts.push(`<rect x="${(px(p.x) - slot * 0.3).toFixed(1)}" y="${py(p.value).toFixed(1)}" width="${(slot * 0.6).toFixed(1)}" height="${(y0 - py(p.value)).toFixed(1)}" fill="#4a7ab5"/>`);
    parts.push(`<text x="${px(p.x).toFixed(1)}" y="${(py(p.value) - 4).toFixed(1)}" text-anchor="middle">${p.value.toFixed(1)}</text>`);
    parts.push(`<text x="${px(p.x).toFixed(1)}" y="${y0 + 14}" text-anchor="middle">${p.x}</text>`);
  }
  parts.push(`<polyline fill="none" stroke="#d62828" stroke-width="1.5" stroke-dasharray="5,3" points="${[0, ...xs].map((x) => `${px(x).toFixed(1)},${py(linear(x)).toFixed(1)}`).join(' ')}"/>`);
  const legend = (i: number, color: string, dashed: boolean, label: string) => {
    const ly = top + 10 + 18 * i;
    parts.push(`<line x1="${left + plotW + 14}" y1="${ly - 4}" x2="${left + plotW + 34}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${dashed ? ' stroke-dasharray="5,3"' : ''}/><text x="${left + plotW + 40}" y="${ly}">${esc(label)}</text>`);
  };
  legend(0, '#4a7ab5', false, 'measured');
  legend(1, '#d62828', true, 'linear: LBs x 1 LB');
  references.forEach((r, i) => {
    if (r.value <= yMax) parts.push(`<line x1="${left}" y1="${py(r.value).toFixed(1)}" x2="${left + plotW}" y2="${py(r.value).toFixed(1)}" stroke="#888" stroke-dasharray="2,3"/>`);
    legend(2 + i, '#888', true, r.value <= yMax ? r.label : `${r.label} (above the scale)`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
