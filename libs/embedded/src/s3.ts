import { createServer, type RequestListener, type Server } from 'node:http';
import { silentLogger, type EmbeddedLogger } from './logger';
import { listenOn } from './ports';
import { makeWorkDir, removeWorkDir } from './work-dir';
import { trackStarted } from './started-handles';

/** The part of s3rver 3.7 used here; the package ships no type declarations. */
interface S3rverInstance {
  /** Creates the buckets named in `configureBuckets`. */
  configureBuckets(): Promise<void>;
  /** Koa request handler, mounted on our own HTTP server. */
  callback(): RequestListener;
}
type S3rverConstructor = new (options: { silent?: boolean; directory?: string; configureBuckets?: { name: string }[] }) => S3rverInstance;

// A typed require instead of an ambient module declaration: a .d.ts file would be compiled into
// an empty .d.js by the swc build.
const S3rver = require('s3rver') as S3rverConstructor;

export interface S3Options {
  /** Folder that holds the buckets (the embedded mode passes ./data/s3); default a temp dir. */
  dir?: string;
  /** Fixed port; default an ephemeral one chosen by the kernel. */
  port?: number;
  /** Buckets created before the server accepts requests. */
  buckets?: readonly string[];
  logger?: EmbeddedLogger;
}

/** The fields a minio `Client` takes, so `new Client(s3.clientOptions)` works. */
export interface S3ClientOptions {
  endPoint: string;
  port: number;
  useSSL: false;
  accessKey: string;
  secretKey: string;
  region: string;
  pathStyle: true;
}

export interface S3Server {
  readonly endPoint: string;
  readonly port: number;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly useSSL: false;
  readonly region: string;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly dir: string;
  readonly clientOptions: S3ClientOptions;
  /** Closes the server (and every keep-alive connection); removes a temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

/** s3rver's fixed credentials. */
export const S3RVER_CREDENTIALS = { accessKey: 'S3RVER', secretKey: 'S3RVER' } as const;

/**
 * An S3-protocol server (s3rver) on a local folder. It lacks multipart uploads and uploads of
 * unknown size: callers always pass the object size.
 */
export async function startS3(options: S3Options = {}): Promise<S3Server> {
  const logger = options.logger ?? silentLogger;
  const endPoint = '127.0.0.1';
  const workDir = makeWorkDir('s3', options.dir);
  // s3rver is used as a request handler on our own HTTP server: its run() leaves a listen error
  // unhandled, which would crash the process when a fixed port is taken.
  const server = new S3rver({
    silent: true,
    directory: workDir.path,
    configureBuckets: (options.buckets ?? []).map((name) => ({ name })),
  });
  let httpServer: Server;
  let port: number;
  try {
    await server.configureBuckets();
    httpServer = createServer(server.callback());
    port = await listenOn(httpServer, options.port ?? 0, endPoint);
  } catch (error) {
    removeWorkDir(workDir);
    throw new Error(`s3rver failed to start on ${endPoint}:${options.port ?? 0}: ${(error as Error).message}`, { cause: error });
  }
  logger.log(`s3rver listening on http://${endPoint}:${port} (dir ${workDir.path})`);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeAllConnections();
      await closed;
      removeWorkDir(workDir);
    })();
    return stopping;
  };

  const region = 'us-east-1';
  return trackStarted<S3Server>({
    endPoint,
    port,
    ...S3RVER_CREDENTIALS,
    useSSL: false,
    region,
    url: `http://${endPoint}:${port}`,
    dir: workDir.path,
    clientOptions: { endPoint, port, useSSL: false, ...S3RVER_CREDENTIALS, region, pathStyle: true },
    stop,
  });
}
