/** A one-line progress bar on stderr (redrawn in place on a terminal, every 25% otherwise). */
export function progressBar(label: string): (done: number, total: number) => void {
  let lastQuarter = -1;
  let lastDraw = 0;
  return (done, total) => {
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    if (process.stderr.isTTY) {
      const now = Date.now();
      if (now - lastDraw < 80 && fraction < 1) return;
      lastDraw = now;
      const width = 30;
      const filled = Math.round(fraction * width);
      process.stderr.write(
        `\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${mb(done)}/${mb(total)} MB${fraction >= 1 ? '\n' : ''}`,
      );
      return;
    }
    const quarter = Math.floor(fraction * 4);
    if (quarter > lastQuarter) {
      lastQuarter = quarter;
      process.stderr.write(`${label} ${(fraction * 100).toFixed(0)}% (${mb(done)}/${mb(total)} MB)\n`);
    }
  };
}

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
