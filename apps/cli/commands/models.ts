import { ApiClient, downloadBlob, EdgeloopApi, uploadModelVersion } from '@edgeloop/client';
import {
  apiPaths,
  MODEL_FILE_ROLES,
  parseModelRef,
  SignedManifestSchema,
  verifySignedManifest,
  type ModelFileRole,
} from '@edgeloop/contracts';
import { Command } from 'commander';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { loadLogin } from '../cli-config';
import { printJson, say } from '../output';
import { progressBar } from '../progress';

function client(): ApiClient {
  const login = loadLogin();
  return new ApiClient({ baseUrl: login.url, token: login.token });
}

/** `edgeloop models push|ls|show|alias|pull`. */
export function registerModels(program: Command): void {
  const models = program.command('models').description('the model registry');

  models
    .command('push')
    .description('upload a new version: each FILE is ROLE=PATH, or a path whose role --role gives or its name suggests')
    .argument('<name>', 'model name')
    .argument('<files...>', 'model files')
    .option('--role <role...>', `roles of the files, in order (${MODEL_FILE_ROLES.join(', ')})`)
    .option('--manifest <file>', 'JSON with labels, thresholds, metrics, parent')
    .option('--json', 'print the registered version as JSON')
    .action(async (name: string, files: string[], options: { role?: string[]; manifest?: string; json?: boolean }) => {
      const parts = files.map((spec, i) => {
        const [role, file] = spec.includes('=') ? (spec.split(/=(.*)/s, 2) as [string, string]) : [options.role?.[i] ?? guessRole(spec), spec];
        if (!role || !(MODEL_FILE_ROLES as readonly string[]).includes(role)) {
          throw new Error(`cannot tell the role of ${spec}: write ROLE=${spec} or pass --role (${MODEL_FILE_ROLES.join(', ')})`);
        }
        return { role: role as ModelFileRole, file };
      });
      // the client declares each file's sha256 and size, so that the registry streams it to storage while it is received
      const manifest: unknown = options.manifest ? JSON.parse(await readFile(options.manifest, 'utf8')) : {};
      const version = await uploadModelVersion(client(), name, parts, manifest, progressBar(`push ${name}`));
      if (options.json) printJson(version);
      else say(`registered ${version.name}@${version.version} (${version.manifest.files.map((f) => `${f.role} ${f.sha256.slice(0, 12)}`).join(', ')})`);
    });

  models
    .command('ls')
    .description('list models, or the versions of one')
    .argument('[name]', 'a model name')
    .option('--json', 'JSON output')
    .action(async (name: string | undefined, options: { json?: boolean }) => {
      if (name) {
        const versions = await new EdgeloopApi(client()).versions(name);
        if (options.json) return printJson(versions);
        for (const v of versions) say(`${v.name}@${v.version}\t${v.createdAt}\t${v.manifest.files.map((f) => f.role).join(',')}\t${v.manifest.labels.length} labels`);
        return;
      }
      const list = await new EdgeloopApi(client()).models();
      if (options.json) return printJson(list);
      if (list.length === 0) say('no models yet');
      for (const m of list) {
        const aliases = Object.entries(m.aliases).map(([a, v]) => `${a}→${v}`).join(' ');
        say(`${m.name}\tlatest ${m.latestVersion ?? '-'}\t${m.versions} versions\t${aliases}`);
      }
    });

  models
    .command('show')
    .description('show a version with its manifest: NAME, NAME@VERSION or NAME@ALIAS')
    .argument('<ref>')
    .action(async (ref: string) => {
      const [name, at] = splitRef(ref);
      printJson(await new EdgeloopApi(client()).version(name, at));
    });

  models
    .command('alias')
    .description('point an alias at a version')
    .argument('<name>')
    .argument('<alias>')
    .argument('<version>')
    .action(async (name: string, alias: string, version: string) => {
      if (!/^[0-9]+$/.test(version)) throw new Error(`"${version}" is not a version number`);
      await new EdgeloopApi(client()).setAlias(name, alias, Number(version));
      say(`${name}@${alias} → ${version}`);
    });

  models
    .command('pull')
    .description('download a version into DIR, verifying its signature and every sha256 (resumes partial files)')
    .argument('<ref>', 'NAME@VERSION or NAME@ALIAS')
    .argument('<dir>')
    .option('--public-key <file>', 'a PEM public key to trust instead of the one the cloud serves')
    .action(async (ref: string, dir: string, options: { publicKey?: string }) => {
      const transport = client();
      const api = new EdgeloopApi(transport);
      const [name, at] = splitRef(ref);
      const version = await api.version(name, at);
      const signed = SignedManifestSchema.parse({ manifest: version.manifest, signature: version.signature });
      const publicKey = options.publicKey
        ? await readFile(options.publicKey, 'utf8')
        : (await api.publicKeys()).keys.find((k) => k.keyId === signed.signature.keyId)?.publicKey;
      if (!publicKey || !verifySignedManifest(signed, publicKey)) throw new Error(`the manifest of ${name}@${version.version} has no valid signature`);
      await mkdir(dir, { recursive: true });
      for (const file of signed.manifest.files) {
        const dest = join(dir, `${file.role}.onnx`);
        await downloadBlob(transport, apiPaths.blob(file.sha256), { sha256: file.sha256, size: file.size, dest, onProgress: progressBar(`pull ${file.role}`) });
      }
      const manifest = { ...signed.manifest, files: signed.manifest.files.map((f) => ({ ...f, path: `${f.role}.onnx` })) };
      await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
      await writeFile(join(dir, 'manifest.signed.json'), `${JSON.stringify(signed, null, 2)}\n`);
      say(`pulled ${name}@${version.version} into ${dir}: signature and ${signed.manifest.files.length} sha256 sums verified`);
    });
}

function splitRef(ref: string): [string, string] {
  if (!ref.includes('@')) return [ref, 'latest'];
  const parsed = parseModelRef(ref);
  if (!parsed) throw new Error(`"${ref}" is not NAME@VERSION or NAME@ALIAS`);
  return [parsed.name, parsed.kind === 'version' ? String(parsed.version) : parsed.alias];
}

function guessRole(file: string): ModelFileRole | undefined {
  const name = basename(file).toLowerCase();
  if (/detect/.test(name)) return 'detector';
  if (/landmark/.test(name)) return 'landmarks';
  if (/feature|embed/.test(name)) return 'embedder';
  if (/liveness/.test(name)) return 'liveness';
  if (/head/.test(name)) return 'head';
  return undefined;
}
