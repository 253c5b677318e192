// s3rver 3.7 ships no type declarations; this covers what the harness uses.
declare module 's3rver' {
  import type { RequestListener } from 'node:http';

  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory?: string;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
    vhostBuckets?: boolean;
    serviceEndpoint?: string;
    configureBuckets?: { name: string; configs?: (string | Buffer)[] }[];
  }

  class S3rver {
    constructor(options?: S3rverOptions);
    /** Creates the buckets named in `configureBuckets`. */
    configureBuckets(): Promise<void>;
    /** Koa request handler, for mounting on our own HTTP server. */
    callback(): RequestListener;
  }

  export = S3rver;
}
