// A hand-written SVG chart: for the three primary forwarding metrics, one bar per topology
// showing its ratio to the limit row (1.0 = the limit), with podwire's target drawn as a line.
// Latency ratios are plotted as limit/value so that "longer bar = better" holds everywhere.
import type { Row } from '../results.js';
import { TARGETS } from './targets.js';

const PANELS: Array<{ metric: string; title: string; invert: boolean }> = [
  { metric: 'udp64_pps', title: 'UDP 64 B packets/s (ratio to limit)', invert: false },
  { metric: 'tcp1c_gbps', title: 'TCP single stream, 1 CPU (ratio to limit)', invert: false },
  { metric: 'rr_p50_us', title: 'TCP round trip p50 (limit ÷ value)', invert: true },
];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function renderSvg(rows: Row[], title: string): string {
  const topologies = [...new Set(rows.filter((r) => PANELS.some((p) => p.metric === r.metric)).map((r) => r.topology))];
  const barH = 18;
  const gap = 6;
  const labelW = 150;
  const plotW = 300;
  const panelW = labelW + plotW + 70;
  const panelH = 40 + topologies.length * (barH + gap);
  const width = panelW * PANELS.length + 20;
  const height = panelH + 70;
  const max = 1.2;
  const x = (v: number) => labelW + (Math.min(Math.max(v, 0), max) / max) * plotW;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(`<text x="10" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`);
  PANELS.forEach((p, pi) => {
    const ox = 10 + pi * panelW;
    const oy = 40;
    parts.push(`<g transform="translate(${ox},${oy})">`);
    parts.push(`<text x="${labelW}" y="14" font-weight="bold">${esc(p.title)}</text>`);
    for (const tick of [0, 0.5, 1]) {
      parts.push(`<line x1="${x(tick)}" y1="22" x2="${x(tick)}" y2="${panelH}" stroke="#ccc"/>`);
      parts.push(`<text x="${x(tick)}" y="${panelH + 14}" text-anchor="middle" fill="#666">${tick.toFixed(1)}</text>`);
    }
    topologies.forEach((t, i) => {
      const y = 26 + i * (barH + gap);
      const row = rows.find((r) => r.topology === t && r.metric === p.metric);
      const podwire = t.startsWith('podwire');
      parts.push(`<text x="${labelW - 6}" y="${y + barH - 5}" text-anchor="end"${podwire ? ' font-weight="bold"' : ''}>${esc(t)}</text>`);
      if (!row || row.ratio === null || row.ratio === 0) {
        parts.push(`<text x="${labelW + 4}" y="${y + barH - 5}" fill="#999">not measured</text>`);
        return;
      }
      const v = p.invert ? 1 / row.ratio : row.ratio;
      const fill = podwire ? '#d9480f' : row.topology === row.ratioTo ? '#495057' : '#74c0fc';
      parts.push(`<rect x="${labelW}" y="${y}" width="${x(v) - labelW}" height="${barH}" fill="${fill}"/>`);
      parts.push(`<text x="${x(v) + 4}" y="${y + barH - 5}">${v.toFixed(2)}</text>`);
      const target = TARGETS.find((g) => g.topology === t && g.metric === p.metric && g.kind === 'ratio');
      if (target) {
        const tv = p.invert ? 1 / target.threshold : target.threshold;
        parts.push(`<line x1="${x(tv)}" y1="${y - 2}" x2="${x(tv)}" y2="${y + barH + 2}" stroke="black" stroke-width="2" stroke-dasharray="3,2"/>`);
      }
    });
    parts.push('</g>');
  });
  parts.push(`<text x="10" y="${height - 12}" fill="#666">orange: podwire · dark: the limit row (direct veth / underlay) · blue: kernel dataplanes · dashed: podwire's target</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
