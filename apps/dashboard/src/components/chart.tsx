import { useEffect, useRef } from 'preact/hooks';
import type uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Marker {
  at: number;
  label: string;
}

export interface ChartProps {
  title: string;
  /** Seconds since the epoch, ascending. */
  x: number[];
  series: { label: string; values: (number | null)[]; color: string }[];
  /** Vertical lines: drift events. */
  markers?: Marker[];
  /** A shaded span: the reference window. */
  shade?: { from: number; to: number } | null;
  /** The time span shown, in seconds since the epoch (default: the data's own span). */
  span?: [number, number];
}

/** A time-series chart (uPlot), with drift events drawn as red lines and the reference window shaded. */
export function TimeChart({ title, x, series, markers = [], shade, span }: ChartProps) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let plot: uPlot | undefined;
    let cancelled = false;
    void import('uplot').then(({ default: UPlot }) => {
      if (cancelled || !host.current) return;
      const width = Math.max(320, host.current.clientWidth || 640);
      plot = new UPlot(
        {
          width,
          height: 200,
          scales: span ? { x: { time: true, range: () => span } } : { x: { time: true } },
          series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: true }))],
          axes: [{ stroke: '#444' }, { stroke: '#444' }],
          legend: { show: true },
          hooks: {
            drawClear: [
              (u) => {
                if (!shade) return;
                const left = u.valToPos(shade.from, 'x', true);
                const right = u.valToPos(shade.to, 'x', true);
                const ctx = u.ctx;
                ctx.save();
                ctx.fillStyle = 'rgba(40, 120, 200, 0.12)';
                ctx.fillRect(left, u.bbox.top, Math.max(1, right - left), u.bbox.height);
                ctx.restore();
              },
            ],
            draw: [
              (u) => {
                const ctx = u.ctx;
                ctx.save();
                ctx.strokeStyle = '#c0392b';
                ctx.lineWidth = 2;
                ctx.setLineDash([6, 4]);
                for (const m of markers) {
                  const px = u.valToPos(m.at, 'x', true);
                  ctx.beginPath();
                  ctx.moveTo(px, u.bbox.top);
                  ctx.lineTo(px, u.bbox.top + u.bbox.height);
                  ctx.stroke();
                }
                ctx.restore();
              },
            ],
          },
        },
        [x, ...series.map((s) => s.values)] as uPlot.AlignedData,
        host.current,
      );
    });
    return () => {
      cancelled = true;
      plot?.destroy();
    };
  }, [x, series, markers, shade, span?.[0], span?.[1]]);
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div
        ref={host}
        role="img"
        aria-label={`${title}: ${x.length} points${markers.length ? `, ${markers.length} drift event(s) marked` : ''}`}
        data-markers={markers.length}
      />
      {markers.length > 0 ? (
        <ul class="plain small markers" aria-label="Drift events on this chart">
          {markers.map((m) => (
            <li key={`${m.at}-${m.label}`}>
              <span class="marker" aria-hidden="true" /> {new Date(m.at * 1000).toLocaleString()}: {m.label}
            </li>
          ))}
        </ul>
      ) : null}
    </figure>
  );
}
