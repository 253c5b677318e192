import { CloudConfig } from '../config/cloud.config';

/**
 * What a cloud process is, from its configuration:
 * - `api`: an API replica (EDGELOOP_WORKERS=false) — HTTP, MQTT ingress, producers and schedulers, no queue workers;
 * - `worker`: a worker replica — the same plus every queue's processor;
 * - `embedded`: `npm start`'s one process with its own MQTT broker (EDGELOOP_EMBEDDED_BROKER_PORT) — everything.
 */
export type CloudRole = 'api' | 'worker' | 'embedded';

export function cloudRole(config: CloudConfig): CloudRole {
  if (!config.workers) return 'api';
  return config.embeddedBrokerPort !== undefined ? 'embedded' : 'worker';
}

/** Whether this role runs BullMQ processors (an API replica only enqueues). */
export function runsProcessors(role: CloudRole): boolean {
  return role !== 'api';
}
