import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the fake camera answers one connection. */
export interface CameraBehaviour {
  fps?: number;
  /** HTTP status other than 200: answered with a short text body and no stream. */
  status?: number;
  contentType?: string;
  /** Destroy the socket after this many frames (a dropped stream). */
  dropAfter?: number;
  /** Send this many frames, then nothing more while keeping the connection open (a stalled camera). */
  stallAfter?: number;
  /** `Content-Length` per part (most cameras send it). */
  withLength?: boolean;
}

export interface FakeMjpegCamera {
  url: string;
  /** Connections the camera has accepted so far. */
  connections: number;
  /** Frames written, over all connections. */
  framesSent: number;
  close(): Promise<void>;
}

/**
 * An MJPEG camera on 127.0.0.1 (free port) that serves the given JPEG files in a loop as
 * `multipart/x-mixed-replace`, each part followed by its delimiter. `behaviour(n)` decides how the
 * n-th connection (0-based) is answered.
 */
export async function startFakeMjpegCamera(jpegs: Buffer[], behaviour: (connection: number) => CameraBehaviour = () => ({})): Promise<FakeMjpegCamera> {
  const timers = new Set<NodeJS.Timeout>();
  const camera: FakeMjpegCamera = { url: '', connections: 0, framesSent: 0, close: async () => undefined };
  const server = createServer((req, res) => {
    const how = behaviour(camera.connections++);
    if (how.status && how.status !== 200) {
      res.writeHead(how.status, { 'content-type': 'text/plain' }).end('camera says no');
      return;
    }
    const boundary = 'edgeloopframe';
    res.writeHead(200, {
      'content-type': how.contentType ?? `multipart/x-mixed-replace; boundary=${boundary}`,
      'cache-control': 'no-cache',
    });
    res.write(`--${boundary}\r\n`);
    let sent = 0;
    const timer = setInterval(() => {
      if (how.stallAfter !== undefined && sent >= how.stallAfter) return;
      if (how.dropAfter !== undefined && sent >= how.dropAfter) {
        clearInterval(timer);
        res.socket?.destroy();
        return;
      }
      writePart(res, boundary, jpegs[camera.framesSent % jpegs.length], how.withLength ?? true);
      sent++;
      camera.framesSent++;
    }, 1000 / (how.fps ?? 20));
    timers.add(timer);
    res.on('close', () => {
      clearInterval(timer);
      timers.delete(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  camera.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/video`;
  camera.close = () =>
    new Promise((resolve) => {
      for (const timer of timers) clearInterval(timer);
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return camera;
}

function writePart(res: ServerResponse, boundary: string, jpeg: Buffer, withLength: boolean): void {
  const headers = `Content-Type: image/jpeg\r\n${withLength ? `Content-Length: ${jpeg.length}\r\n` : ''}\r\n`;
  res.write(Buffer.concat([Buffer.from(headers), jpeg, Buffer.from(`\r\n--${boundary}\r\n`)]));
}
