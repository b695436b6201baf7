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
  const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
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
