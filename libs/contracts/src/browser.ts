/**
 * The contracts as a browser bundle may import them (the dashboard): every type, and the runtime values that
 * need no Node built-in (signing and webhook signatures use node:crypto and stay out).
 */
export type * from './index';
export { API_PREFIX } from './protocol';
export { apiPaths } from './rest/paths';
export { DASHBOARD_REQUEST_HEADER, DASHBOARD_SIGN_IN_PATH, sessionPaths } from './rest/sessions';
export { identityPaths } from './rest/identities';
export { RETRAINING_STEPS } from './rest/retraining';
