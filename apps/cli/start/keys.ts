/**
 * Keys on a terminal while `edgeloop start` runs: `b` shows the banner again, `v` turns frame lines on and off,
 * `q` or Ctrl-C stops. Nothing happens when stdin is not a terminal (then Ctrl-C is SIGINT as usual).
 */
export function listenForKeys(handlers: { banner(): void; verbose(): void; stop(): void }): () => void {
  const input = process.stdin;
  if (!input.isTTY) return () => undefined;
  input.setRawMode(true);
  input.resume();
  const onData = (chunk: Buffer): void => {
    const key = chunk.toString('utf8');
    if (key === 'b' || key === 'B') handlers.banner();
    else if (key === 'v' || key === 'V') handlers.verbose();
    else if (key === 'q' || key === 'Q' || key === '\u0003') handlers.stop();
  };
  input.on('data', onData);
  return () => {
    input.off('data', onData);
    input.setRawMode(false);
    input.pause();
  };
}
