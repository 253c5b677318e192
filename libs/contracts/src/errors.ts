import { z } from 'zod';
import { fieldIssues, describeZodError } from './parse';

/**
 * The REST error catalogue: every code the cloud can put in `error`, with its HTTP status. The
 * server's exception filter takes the status from here, and a spec in apps/cloud scans the server's
 * source and fails naming any code missing from this list; docs/protocol.md lists exactly these.
 * Clients branch on `error`, never on `message`. 400 is a malformed request, 422 a well-formed
 * request whose content is refused (an artifact that is not a valid model, a URL that is not allowed).
 */
export const ERROR_STATUS = {
  bad_request: 400,
  invalid_json: 400,
  validation_failed: 400,
  invalid_model_name: 400,
  invalid_alias: 400,
  invalid_version: 400,
  not_multipart: 400,
  malformed_multipart: 400,
  unknown_field: 400,
  too_many_fields: 400,
  too_many_files: 400,
  unknown_role: 400,
  duplicate_role: 400,
  missing_file: 400,
  invalid_manifest: 400,
  manifest_file_missing: 400,
  upload_aborted: 400,
  invalid_body: 400,
  invalid_query: 400,
  invalid_id: 400,
  invalid_sha256: 400,
  no_target_devices: 400,
  client_disconnected: 400,
  unauthorized: 401,
  enrolment_token_invalid: 401,
  forbidden: 403,
  device_disabled: 403,
  enrolment_token_expired: 403,
  enrolment_token_used_up: 403,
  enrolment_token_revoked: 403,
  not_found: 404,
  identity_not_found: 404,
  hard_example_not_found: 404,
  no_production_version: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  conflict: 409,
  identity_exists: 409,
  enrolment_replayed: 409,
  rollout_in_progress: 409,
  retraining_in_progress: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  unprocessable_entity: 422,
  invalid_artifact: 422,
  webhook_url_refused: 422,
  photo_refused: 422,
  no_embedder: 422,
  base_not_trainable: 422,
  too_many_requests: 429,
  busy: 429,
  internal: 500,
  unavailable: 503,
  queue_unavailable: 503,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

/**
 * Codes inside the `details` of an `invalid_artifact` error, one detail per refused file:
 * `{ role, code, message? }`.
 */
export const ARTIFACT_ISSUE_CODES = ['empty_file', 'invalid_onnx', 'role_mismatch', 'validation_timeout'] as const;
export type ArtifactIssueCode = (typeof ARTIFACT_ISSUE_CODES)[number];

/** The HTTP status of a code. */
export function errorStatus(code: ErrorCode): number {
  return ERROR_STATUS[code];
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_STATUS, code);
}

/** The generic code of a status, for errors that carry only a status (a framework's own 404 or 413). */
const GENERIC_CODE_BY_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'request_timeout',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  416: 'range_not_satisfiable',
  422: 'unprocessable_entity',
  429: 'too_many_requests',
  500: 'internal',
  503: 'unavailable',
};

/** A catalogue code for a bare HTTP status: the generic one, else `bad_request` for 4xx and `internal` for 5xx. */
export function errorCodeForStatus(status: number): ErrorCode {
  return GENERIC_CODE_BY_STATUS[status] ?? (status >= 400 && status < 500 ? 'bad_request' : 'internal');
}

/**
 * Readers accept any snake_case code so a client keeps working when the server adds one.
 * `details` lists field issues (`{ path, message, code }`) or other structured facts.
 */
export const ErrorBodySchema = z.object({
  error: z.string().regex(/^[a-z][a-z0-9_]*$/),
  message: z.string(),
  details: z.array(z.unknown()),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

export function errorBody(code: ErrorCode, message: string, details: unknown[] = []): ErrorBody {
  return { error: code, message, details };
}

/** A failed DTO validation as an error body: `validation_failed`, one detail per bad field. */
export function validationErrorBody(error: z.ZodError, what = 'request body'): ErrorBody {
  return errorBody('validation_failed', `invalid ${what}: ${describeZodError(error)}`, fieldIssues(error));
}
