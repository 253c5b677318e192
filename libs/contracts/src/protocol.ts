/**
 * Protocol identity. Every topic starts with PROTOCOL_VERSION; every device message carries
 * `v: MESSAGE_VERSION`; every bundle manifest carries `schema: MANIFEST_SCHEMA`.
 *
 * Versioning rule: inside `edgeloop/v1` a change may only add optional fields (readers ignore
 * fields they do not know). Removing or renaming a field, changing its type or its meaning is a
 * new protocol version: new topic prefix, new `v`, and both served side by side during a migration.
 */
export const PROTOCOL_VERSION = 'edgeloop/v1';
export const MANIFEST_SCHEMA = 'edgeloop.model/v1';
export const MESSAGE_VERSION = 1;

/** REST prefix shared by the cloud's routes and every client. */
export const API_PREFIX = '/api/v1';
