import { createServer, Socket, type Server } from 'node:net';

const LOOPBACK = '127.0.0.1';

/** Ports handed out recently by this process; skipped so two parallel starts do not get the same one. */
const recentlyHandedOut = new Set<number>();
const RECENT_LIMIT = 256;

function bindEphemeral(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. Another process may still take it before
 * the caller binds it: every `start*` function retries with a new port when its server reports
 * EADDRINUSE.
 */
export async function freePort(host: string = LOOPBACK): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await bindEphemeral(host);
    if (port > 0 && !recentlyHandedOut.has(port)) {
      recentlyHandedOut.add(port);
      if (recentlyHandedOut.size > RECENT_LIMIT) {
        const oldest = recentlyHandedOut.values().next().value;
        if (oldest !== undefined) recentlyHandedOut.delete(oldest);
      }
      return port;
    }
  }
  throw new Error('freePort: could not find an unused port on ' + host);
}

/** True when something accepts TCP connections on host:port. */
export function isListening(port: number, host: string = LOOPBACK, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (listening: boolean): void => {
      socket.destroy();
      resolve(listening);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.connect(port, host);
  });
}

/** True when this process could bind host:port right now. */
export function isPortFree(port: number, host: string = LOOPBACK): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Error text that servers print when their port is taken (redis, mosquitto, postgres, node). */
export function mentionsAddressInUse(text: string): boolean {
  return /address already in use|EADDRINUSE/i.test(text);
}

/** Listens on host:port (0 = let the kernel pick) and resolves with the bound port; rejects on EADDRINUSE. */
export function listenOn(server: Server, port: number, host: string = LOOPBACK): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen({ port, host, exclusive: true }, () => {
      server.removeListener('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}
