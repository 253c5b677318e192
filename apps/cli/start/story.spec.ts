import { bar, StoryTerminal } from './story';

/** A stand-in for process.stdout that records what is written. */
function fakeStream(isTTY: boolean): NodeJS.WriteStream & { written: string } {
  const stream = { isTTY, columns: 40, written: '', write: (chunk: string) => ((stream.written += chunk), true) };
  return stream as unknown as NodeJS.WriteStream & { written: string };
}

describe('the terminal of edgeloop start', () => {
  it('on a terminal, writes a story line above the live block and redraws the block under it', () => {
    const out = fakeStream(true);
    const story = new StoryTerminal(out);
    story.setLive(['edge-1 active', 'edge-2 active']);
    expect(out.written).toBe('edge-1 active\nedge-2 active\n');
    out.written = '';
    story.line('drift detected');
    // up two lines, clear to the end of the screen, the story line, the block again
    expect(out.written).toBe('\x1b[2A\r\x1b[Jdrift detected\nedge-1 active\nedge-2 active\n');
  });

  it('cuts live lines to the terminal width so the block keeps its height', () => {
    const out = fakeStream(true);
    new StoryTerminal(out).setLive(['x'.repeat(100)]);
    expect(out.written).toBe(`${'x'.repeat(38)}…\n`);
  });

  it('elsewhere, writes plain lines and no live block or escape codes', () => {
    const out = fakeStream(false);
    const story = new StoryTerminal(out);
    story.setLive(['edge-1 active']);
    story.line('drift detected');
    expect(out.written).toBe('drift detected\n');
  });

  it('shows the banner again on demand', () => {
    const out = fakeStream(false);
    const story = new StoryTerminal(out);
    story.beginBanner();
    story.line('edgeloop is running');
    story.line('  cloud API http://127.0.0.1:1/api/v1');
    story.endBanner();
    story.line('rollout completed');
    out.written = '';
    story.repeatBanner();
    expect(out.written).toBe('edgeloop is running\n  cloud API http://127.0.0.1:1/api/v1\n');
  });

  it('draws progress bars', () => {
    expect(bar(0.45, 10)).toBe('[#####-----]  45%');
    expect(bar(2, 4)).toBe('[####] 100%');
  });
});
