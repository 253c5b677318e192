import { findBinary } from '@edgeloop/harness';
import { loadAll } from 'js-yaml';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { renderAll } from './src/render.ts';

/**
 * deploy/kubernetes: the committed YAML is what the typed objects generate; `tsc` accepts the sources and
 * rejects a field Kubernetes does not know; `kubectl kustomize` renders every overlay offline, and every
 * object it renders type-checks against the Kubernetes API types (kubernetes-types 1.30) — the schema
 * check this machine can run without an API server.
 */
const here = __dirname;
const repoRoot = join(here, '..', '..');
const OVERLAYS = ['embedded-deps', 'external-deps'];

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [key: string]: any };

/** kind → the kubernetes-types module and type that describe it. */
const TYPES: Record<string, [string, string]> = {
  Namespace: ['kubernetes-types/core/v1', 'Namespace'],
  ConfigMap: ['kubernetes-types/core/v1', 'ConfigMap'],
  Secret: ['kubernetes-types/core/v1', 'Secret'],
  Service: ['kubernetes-types/core/v1', 'Service'],
  ServiceAccount: ['kubernetes-types/core/v1', 'ServiceAccount'],
  Deployment: ['kubernetes-types/apps/v1', 'Deployment'],
  StatefulSet: ['kubernetes-types/apps/v1', 'StatefulSet'],
  DaemonSet: ['kubernetes-types/apps/v1', 'DaemonSet'],
  PodDisruptionBudget: ['kubernetes-types/policy/v1', 'PodDisruptionBudget'],
};

const CREDENTIALS = [
  'EDGELOOP_BOOTSTRAP_TOKEN',
  'EDGELOOP_SECRETS_KEY',
  'EDGELOOP_SIGNING_KEY',
  'DATABASE_URL',
  'REDIS_URL',
  'MQTT_PASSWORD',
  'S3_ACCESS_KEY',
  'S3_SECRET_KEY',
  'EDGE_ENROLMENT_TOKEN',
  'EDGE_MQTT_PASSWORD',
  'EDGE_HTTP_TOKEN',
];

/** Type-checks virtual files next to this one with deploy/kubernetes/tsconfig.json; returns the diagnostics as text. */
function typeCheck(files: Record<string, string> = {}, withProject = false): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(join(here, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined })!;
  const virtual = new Map(Object.entries(files).map(([name, text]) => [join(here, name), text]));
  const host = ts.createCompilerHost(config.options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    virtual.has(name) ? ts.createSourceFile(name, virtual.get(name)!, language) : getSourceFile(name, language, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => virtual.has(name) || fileExists(name);
  const roots = [...(withProject ? config.fileNames : []), ...virtual.keys()];
  const program = ts.createProgram(roots, config.options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file ? relative(repoRoot, d.file.fileName) : ''} TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

describe('deploy/kubernetes', () => {
  it('has exactly the YAML the typed objects generate (run node deploy/kubernetes/generate.ts after editing src/)', () => {
    const generated = renderAll(readFileSync(join(repoRoot, 'deploy', 'mosquitto', 'mosquitto.conf'), 'utf8'));
    const committed = filesUnder(here)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => relative(here, f))
      .sort();
    expect(committed).toEqual([...generated.keys()].sort());
    for (const [path, text] of generated) expect({ path, text: readFileSync(join(here, path), 'utf8') }).toEqual({ path, text });
  });

  it('type-checks its sources, and tsc rejects a field Kubernetes does not know', () => {
    // the sources hold a `@ts-expect-error` typo line: were the types to accept it, that line would be an error here
    expect(typeCheck({}, true)).toEqual([]);
    const typo = typeCheck({
      'typo.check.ts': `import type { Container } from 'kubernetes-types/core/v1';\nexport const c: Container = { name: 'edge', image: 'x', memoryLimit: '256Mi' };\n`,
    });
    expect(typo).toEqual([
      expect.stringMatching(/typo\.check\.ts TS2353: Object literal may only specify known properties, and 'memoryLimit' does not exist in type 'Container'/),
    ]);
  }, 60_000);

  const kubectl = findBinary('kubectl');
  if (!kubectl) {
    it.skip('kubectl is not installed (https://kubernetes.io/docs/tasks/tools/): the overlays were not rendered or schema-checked', () => undefined);
    return;
  }

  const rendered = new Map<string, K8sObject[]>();
  beforeAll(() => {
    for (const overlay of OVERLAYS) {
      const text = execFileSync(kubectl, ['kustomize', join(here, 'overlays', overlay)], { encoding: 'utf8' });
      rendered.set(overlay, loadAll(text) as K8sObject[]);
    }
  });
  const objects = (overlay: string) => rendered.get(overlay)!;
  const find = (overlay: string, kind: string, name: string) => objects(overlay).find((o) => o.kind === kind && o.metadata.name === name)!;

  it('renders every overlay offline, every object in the edgeloop namespace', () => {
    const kinds = (overlay: string) =>
      objects(overlay)
        .map((o) => o.kind)
        .sort();
    expect(kinds('external-deps')).toEqual([
      'ConfigMap',
      'ConfigMap',
      'DaemonSet',
      'Deployment',
      'Namespace',
      'PodDisruptionBudget',
      'PodDisruptionBudget',
      'Secret',
      'Secret',
      'Service',
      'Service',
      'ServiceAccount',
      'StatefulSet',
    ]);
    expect(kinds('embedded-deps').filter((k) => k === 'StatefulSet')).toHaveLength(5);
    for (const overlay of OVERLAYS) {
      for (const o of objects(overlay))
        if (o.kind !== 'Namespace')
          expect({ object: `${o.kind}/${o.metadata.name}`, ns: o.metadata.namespace }).toEqual({ object: `${o.kind}/${o.metadata.name}`, ns: 'edgeloop' });
    }
  });

  it('validates every rendered object against the Kubernetes API types', () => {
    const files: Record<string, string> = {};
    for (const overlay of OVERLAYS) {
      const used = new Map<string, string>();
      const lines = objects(overlay).map((o, i) => {
        const type = TYPES[o.kind];
        if (!type) throw new Error(`${overlay}: no type for kind ${o.kind}`);
        used.set(type[1], type[0]);
        return `export const o${i}: ${type[1]} = ${JSON.stringify(o, null, 2)};`;
      });
      const imports = [...used].map(([name, module]) => `import type { ${name} } from '${module}';`);
      files[`rendered-${overlay}.check.ts`] = [...imports, ...lines].join('\n');
    }
    expect(typeCheck(files)).toEqual([]);
  }, 60_000);

  it('runs the API as a Deployment with readiness on /api/v1/health and a liveness that ignores dependencies', () => {
    for (const overlay of OVERLAYS) {
      const api = find(overlay, 'Deployment', 'edgeloop-api');
      const [container] = api.spec.template.spec.containers;
      expect(container.readinessProbe.httpGet).toEqual({ path: '/api/v1/health', port: 8080 });
      expect(container.livenessProbe.httpGet).toEqual({ path: '/api/v1/health/live', port: 8080 });
      expect(container.env).toContainEqual({ name: 'EDGELOOP_WORKERS', value: 'false' });
      expect(container.env).toContainEqual({ name: 'EDGELOOP_PREDICTION_INTAKE', value: 'false' });
      expect(api.spec.replicas).toBeGreaterThanOrEqual(2);
    }
  });

  it('runs workers as a StatefulSet: one stable MQTT client id per pod, one shared subscription group', () => {
    const worker = find('embedded-deps', 'StatefulSet', 'edgeloop-worker');
    const [container] = worker.spec.template.spec.containers;
    expect(container.env).toContainEqual({ name: 'EDGELOOP_WORKERS', value: 'true' });
    expect(container.env).toContainEqual({ name: 'EDGELOOP_PREDICTION_INTAKE', value: 'true' });
    expect(container.env).toContainEqual({ name: 'MQTT_CLIENT_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
    expect(find('embedded-deps', 'ConfigMap', 'edgeloop-cloud-config').data.MQTT_SHARE_GROUP).toBe('edgeloop-cloud');
    expect(find('embedded-deps', 'Service', worker.spec.serviceName).spec.clusterIP).toBe('None');
  });

  it('guards both cloud roles with a PodDisruptionBudget that selects their pods', () => {
    for (const [kind, name] of [
      ['Deployment', 'edgeloop-api'],
      ['StatefulSet', 'edgeloop-worker'],
    ]) {
      const pods = find('external-deps', kind, name).spec.template.metadata.labels;
      const budget = find('external-deps', 'PodDisruptionBudget', name);
      for (const [key, value] of Object.entries(budget.spec.selector.matchLabels)) expect(pods[key]).toBe(value);
    }
  });

  it('keeps every credential in a Secret and uses only variable names the apps read (their config schemas) and docs/configuration.md names', () => {
    const docs = readFileSync(join(repoRoot, 'docs', 'configuration.md'), 'utf8');
    // required at run time, not imported: the type check of this folder (above) would otherwise compile the apps too
    const read = {
      cloud: (require(join(repoRoot, 'apps', 'cloud', 'src', 'config', 'cloud.config.ts')) as { cloudEnvNames: string[] }).cloudEnvNames,
      edge: [
        ...(require(join(repoRoot, 'apps', 'edge', 'src', 'config', 'edge.config.ts')) as { edgeEnvNames: string[] }).edgeEnvNames,
        ...(require(join(repoRoot, 'apps', 'edge', 'src', 'enrolment', 'enrolment.ts')) as { enrolmentEnvNames: string[] }).enrolmentEnvNames,
      ],
    };
    expect(read.cloud).toEqual(expect.arrayContaining(['DATABASE_URL', 'EDGELOOP_WORKERS']));
    expect(read.edge).toEqual(expect.arrayContaining(['EDGE_STATE_DIR', 'EDGE_ENROLMENT_TOKEN']));
    for (const overlay of OVERLAYS) {
      const ours = objects(overlay).filter((o) =>
        ['edgeloop-cloud-config', 'edgeloop-cloud-credentials', 'edgeloop-edge-config', 'edgeloop-edge-enrolment'].includes(o.metadata.name),
      );
      expect(ours).toHaveLength(4);
      const names = ours.flatMap((o) =>
        Object.keys(o.data ?? o.stringData).map((name) => ({ app: o.metadata.name.startsWith('edgeloop-edge') ? 'edge' : 'cloud', name })),
      );
      for (const workload of ['edgeloop-api', 'edgeloop-worker', 'edgeloop-edge']) {
        const pod = objects(overlay).find((o) => o.metadata.name === workload && ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind))!.spec.template
          .spec;
        const app = workload === 'edgeloop-edge' ? 'edge' : 'cloud';
        names.push(...pod.containers[0].env.map((e: { name: string }) => ({ app, name: e.name })).filter((n: { name: string }) => n.name !== 'NODE_ENV'));
      }
      for (const { app, name } of names) {
        expect({ app, name, documented: docs.includes(`\`${name}\``), read: read[app as 'cloud' | 'edge'].includes(name) }).toEqual({
          app,
          name,
          documented: true,
          read: true,
        });
      }
      for (const o of ours.filter((o) => o.kind === 'ConfigMap')) {
        expect({ configMap: o.metadata.name, credentials: Object.keys(o.data).filter((k) => CREDENTIALS.includes(k)) }).toEqual({
          configMap: o.metadata.name,
          credentials: [],
        });
      }
      const secretKeys = ours.filter((o) => o.kind === 'Secret').flatMap((o) => Object.keys(o.stringData));
      for (const name of [
        'EDGELOOP_BOOTSTRAP_TOKEN',
        'EDGELOOP_SECRETS_KEY',
        'DATABASE_URL',
        'REDIS_URL',
        'MQTT_PASSWORD',
        'S3_ACCESS_KEY',
        'S3_SECRET_KEY',
        'EDGE_ENROLMENT_TOKEN',
      ]) {
        expect({ name, inSecret: secretKeys.includes(name) }).toEqual({ name, inSecret: true });
      }
    }
  });

  it('runs the edge worker as a DaemonSet on edge nodes: tolerations, hostPath state, a camera from the device plugin, enrolment token from a Secret, memory from the measured RSS', () => {
    const edge = find('embedded-deps', 'DaemonSet', 'edgeloop-edge');
    const pod = edge.spec.template.spec;
    const terms = pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
    expect(terms).toContainEqual({ matchExpressions: [{ key: 'node-role.kubernetes.io/edge', operator: 'Exists' }] });
    expect(pod.tolerations).toContainEqual({ key: 'node-role.kubernetes.io/edge', operator: 'Exists', effect: 'NoSchedule' });
    expect(pod.volumes).toContainEqual({ name: 'state', hostPath: { path: '/var/lib/edgeloop', type: 'DirectoryOrCreate' } });
    const [container] = pod.containers;
    expect(container.volumeMounts).toContainEqual({ name: 'state', mountPath: '/var/lib/edgeloop' });
    expect(container.resources.limits['squat.ai/video']).toBe('1');
    expect(container.env).toContainEqual({
      name: 'EDGE_ENROLMENT_TOKEN',
      valueFrom: { secretKeyRef: { name: 'edgeloop-edge-enrolment', key: 'EDGE_ENROLMENT_TOKEN' } },
    });
    expect(find('embedded-deps', 'ConfigMap', 'edgeloop-edge-config').data.EDGE_STATE_DIR).toBe('/var/lib/edgeloop');

    // the edge bench's newest run (bench/results/edge.json, MB = 2^20 bytes): the request covers the steady RSS
    // with models, the limit 1.5 x the peak of that steady run and the whole peak across hot switches
    const measured = JSON.parse(readFileSync(join(repoRoot, 'bench', 'results', 'edge.json'), 'utf8')) as {
      units: string;
      memory: { steady: Array<{ steadyRssMb: number; peakRssMb: number }> };
      hotSwitch: { rssMb: { max: number } };
    };
    expect(measured.units).toMatch(/^MB = 2\^20 bytes/);
    expect(measured.memory.steady.length).toBeGreaterThan(0);
    const steady = Math.max(...measured.memory.steady.map((s) => s.steadyRssMb));
    const peak = Math.max(...measured.memory.steady.map((s) => s.peakRssMb));
    const mebibytes = (q: string) => Number(q.replace(/Mi$/, ''));
    expect(mebibytes(container.resources.requests.memory)).toBeGreaterThanOrEqual(steady);
    expect(mebibytes(container.resources.limits.memory)).toBeGreaterThanOrEqual(Math.ceil(peak * 1.5));
    expect(mebibytes(container.resources.limits.memory)).toBeGreaterThanOrEqual(measured.hotSwitch.rssMb.max);
  });
});
