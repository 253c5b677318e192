/**
 * The contracts as a browser bundle may import them (the dashboard): every type, and the runtime values that
 * need no Node built-in (signing and webhook signatures use node:crypto and stay out).
 */
export type * from './index';
export { API_PREFIX } from './protocol';
export * from './parse';
export * from './errors';
// the REST DTOs and their response schemas: @edgeloop/client reads every answer with them
export * from './rest/models';
export * from './rest/devices';
export * from './rest/quotas';
export * from './rest/deployments';
export * from './rest/webhooks';
export * from './rest/hard-examples';
export * from './rest/identities';
export * from './rest/retraining';
export * from './rest/drift';
export * from './rest/metrics';
export * from './rest/paths';
export * from './rest/sessions';
