import { existsSync, readFile } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import sharp from 'sharp';

export const PEER_NAME = '@vladmandic/human@3.3.6 (tfjs 4.22.0, wasm backend)';

/** The few parts of Human's API the benchmark uses (the package is required by absolute path). */
interface HumanTensor {
  dispose?: () => void;
}
interface HumanInstance {
  version: string;
  load(): Promise<void>;
  detect(input: HumanTensor): Promise<{ face: { embedding?: number[] }[] }>;
  tf: {
    ready(): Promise<void>;
    getBackend(): string;
    tensor3d(values: Int32Array, shape: [number, number, number], dtype: 'int32'): HumanTensor;
    dispose(t: HumanTensor): void;
  };
}

/**
 * The peer, run offline: models served from its own `models/` folder on 127.0.0.1 (Node's fetch
 * cannot read file://), wasm binaries from the local tfjs-backend-wasm, `cacheSensitivity: 0` so
 * no frame result is reused. Configured for the same job as ours: face detection, mesh
 * (alignment) and description (embedding); everything else off.
 */
export class HumanPeer {
  private constructor(
    private readonly human: HumanInstance,
    private readonly server: Server,
    readonly backend: string,
  ) {}

  /** Starts the peer, or explains why it cannot run here. */
  static async start(root: string): Promise<HumanPeer | { unavailable: string }> {
    const pkg = path.join(root, 'node_modules', '@vladmandic', 'human');
    const entry = path.join(pkg, 'dist', 'human.node-wasm.js');
    const wasmDir = path.join(root, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist');
    if (!existsSync(entry) || !existsSync(wasmDir)) {
      return { unavailable: `not installed (${path.relative(root, entry)} or tfjs-backend-wasm missing)` };
    }
    const models = path.join(pkg, 'models');
    const server = createServer((req, res) => {
      const file = path.join(models, path.basename(decodeURIComponent((req.url ?? '/').split('?')[0])));
      readFile(file, (err, body) => {
        if (err) {
          res.statusCode = 404;
          res.end();
          return;
        }
        res.setHeader('content-type', file.endsWith('.json') ? 'application/json' : 'application/octet-stream');
        res.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { Human } = require(entry) as { Human: new (config: object) => HumanInstance };
      const port = (server.address() as AddressInfo).port;
      const human = new Human({
        backend: 'wasm',
        wasmPath: `${wasmDir}/`,
        modelBasePath: `http://127.0.0.1:${port}/`,
        cacheSensitivity: 0,
        debug: false,
        warmup: 'none',
        filter: { enabled: false },
        face: {
          enabled: true,
          detector: { enabled: true, rotation: false, maxDetected: 10 },
          mesh: { enabled: true },
          iris: { enabled: false },
          emotion: { enabled: false },
          description: { enabled: true },
          antispoof: { enabled: false },
          liveness: { enabled: false },
          attention: { enabled: false },
        },
        body: { enabled: false },
        hand: { enabled: false },
        object: { enabled: false },
        gesture: { enabled: false },
        segmentation: { enabled: false },
      });
      await human.load();
      await human.tf.ready();
      return new HumanPeer(human, server, human.tf.getBackend());
    } catch (err) {
      server.close();
      return { unavailable: (err as Error).message };
    }
  }

  get version(): string {
    return this.human.version;
  }

  /** Decode (sharp, as ours) + tensor + detect/mesh/describe; returns the number of faces. */
  async process(jpeg: Buffer): Promise<number> {
    const { data, info } = await sharp(jpeg).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const tensor = this.human.tf.tensor3d(new Int32Array(data), [info.height, info.width, 3], 'int32');
    try {
      const result = await this.human.detect(tensor);
      return result.face.filter((f) => (f.embedding?.length ?? 0) > 0).length;
    } finally {
      this.human.tf.dispose(tensor);
    }
  }

  stop(): void {
    this.server.close();
  }
}
