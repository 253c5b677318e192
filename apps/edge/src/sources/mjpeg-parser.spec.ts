import { MjpegParser } from './mjpeg-parser';

/** A JPEG-shaped buffer: SOI marker, bytes that include CR, LF and dashes, EOI marker. */
function fakeJpeg(n: number, size = 300): Buffer {
  const body = Buffer.alloc(size, 0);
  for (let i = 0; i < size; i++) body[i] = (i * 31 + n * 7) % 251;
  body.write('\r\n--not-the-boundary\r\n', 40, 'latin1');
  return Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), body, Buffer.from([0xff, 0xd9])]);
}

function part(boundary: string, image: Buffer, withLength = true): Buffer {
  const headers = `--${boundary}\r\nContent-Type: image/jpeg\r\n${withLength ? `Content-Length: ${image.length}\r\n` : ''}\r\n`;
  return Buffer.concat([Buffer.from(headers, 'latin1'), image, Buffer.from('\r\n', 'latin1')]);
}

function collect(boundary: string, maxFrameBytes = 1 << 20) {
  const frames: Buffer[] = [];
  const rejected: string[] = [];
  const parser = new MjpegParser({ boundary, maxFrameBytes, onFrame: (f) => frames.push(f), onRejected: (r) => rejected.push(r) });
  const write = (chunk: Buffer) => new Promise<void>((resolve, reject) => parser.write(chunk, (err) => (err ? reject(err) : resolve())));
  return { parser, frames, rejected, write };
}

describe('MjpegParser', () => {
  const images = [fakeJpeg(1), fakeJpeg(2, 500), fakeJpeg(3, 50)];
  const stream = (boundary: string, withLength: boolean) =>
    Buffer.concat([...images.map((image) => part(boundary, image, withLength)), Buffer.from(`--${boundary}\r\n`, 'latin1')]);

  it.each([true, false])('yields each part byte for byte, however the body is cut into chunks (Content-Length: %s)', async (withLength) => {
    const body = stream('frame', withLength);
    for (const chunkSize of [1, 2, 3, 7, 64, 333, body.length]) {
      const { frames, write } = collect('frame');
      for (let at = 0; at < body.length; at += chunkSize) await write(body.subarray(at, at + chunkSize));
      expect(frames).toEqual(images);
    }
  });

  it('hands a frame out as soon as Content-Length bytes arrived, before the next delimiter', async () => {
    const { frames, write } = collect('b');
    await write(part('b', images[0]).subarray(0, -2)); // no trailing CRLF, no next delimiter yet
    expect(frames).toEqual([images[0]]);
  });

  it('without Content-Length a frame ends at the next delimiter', async () => {
    const { frames, write } = collect('b');
    await write(part('b', images[0], false));
    expect(frames).toEqual([]);
    await write(Buffer.from('--b\r\n'));
    expect(frames).toEqual([images[0]]);
  });

  it('accepts the camera quirk of declaring boundary=--abc while delimiting with --abc', async () => {
    const { frames, write } = collect('--myboundary');
    await write(stream('myboundary', false));
    expect(frames).toEqual(images);
  });

  it('still takes a declared boundary that itself starts with dashes when the body repeats them', async () => {
    const { frames, write } = collect('--myboundary');
    await write(stream('--myboundary', true)); // every delimiter is "--" + "--myboundary"
    expect(frames).toEqual(images);
  });

  it('drops parts over the size limit, declared or not, and carries on', async () => {
    const big = fakeJpeg(9, 2000);
    const { frames, rejected, write } = collect('b', 1000);
    await write(Buffer.concat([part('b', big, true), part('b', images[0]), part('b', big, false), part('b', images[1]), Buffer.from('--b\r\n')]));
    expect(frames).toEqual([images[0], images[1]]);
    expect(rejected).toEqual([expect.stringMatching(/2006 bytes is over the 1000-byte limit/), expect.stringMatching(/over the 1000-byte limit/)]);
  });

  it('drops parts that are not JPEG images', async () => {
    const { frames, rejected, write } = collect('b');
    await write(Buffer.concat([part('b', Buffer.from('<html>camera busy</html>')), part('b', images[2]), Buffer.from('--b--\r\n')]));
    expect(frames).toEqual([images[2]]);
    expect(rejected).toEqual(['part is not a JPEG image']);
  });
});
