import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudConfig, placeholderSecrets } from './cloud.config';

const compose = readFileSync(join(__dirname, '../../../../docker-compose.yml'), 'utf8');
const SECRET_NAME = /PASSWORD|TOKEN|SECRET|_KEY$/;

/** `${NAME:-default}`, `${NAME:?message}`, `${NAME}` references in the compose file. */
function references(): Array<{ name: string; operator: string; rest: string }> {
  return [...compose.matchAll(/\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}/g)].map((m) => ({ name: m[1]!, operator: m[2] ?? '', rest: m[3] ?? '' }));
}

describe('docker-compose.yml secrets', () => {
  it('ships no working default for a secret on its published ports: each one is required (${VAR:?})', () => {
    // the edge's own credentials come from provisioning and may be empty until then
    const secrets = references().filter((r) => SECRET_NAME.test(r.name) && !r.name.startsWith('EDGE_'));
    expect(secrets.map((r) => r.name)).toEqual(
      expect.arrayContaining(['MINIO_ROOT_PASSWORD', 'MQTT_ADMIN_PASSWORD', 'POSTGRES_PASSWORD', 'EDGELOOP_BOOTSTRAP_TOKEN', 'EDGELOOP_SECRETS_KEY']),
    );
    expect(secrets.filter((r) => r.operator !== ':?')).toEqual([]);
  });

  it('has no placeholder value written in the file itself', () => {
    const literal = [...compose.matchAll(/^\s+([A-Z0-9_]+):\s*"?([^"$\n]+)"?\s*$/gm)].map((m) => ({ [m[1]!]: m[2]!.trim() }));
    expect(literal.flatMap((entry) => placeholderSecrets(entry))).toEqual([]);
  });

  it('the cloud refuses the defaults older versions of the file shipped', () => {
    expect(() =>
      CloudConfig.fromEnv({ EDGELOOP_BOOTSTRAP_TOKEN: 'change-me-bootstrap-token-0000', MQTT_URL: 'mqtt://m:1883', MQTT_PASSWORD: 'change-me-mqtt-admin' }),
    ).toThrow(/EDGELOOP_BOOTSTRAP_TOKEN[^\n]*placeholder[\s\S]*MQTT_PASSWORD[^\n]*placeholder/);
  });
});
