import { z } from 'zod';
import { fieldIssues, describeZodError } from './parse';

/**
 * The REST error body, `{ error, message, details }`, and the stable codes in `error`. Clients
 * branch on `error`, never on `message`. 400 is a malformed request, 422 a well-formed request
 * whose content is refused (an artifact that is not a valid model, a URL that is not allowed).
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
  unauthorized: 401,
  forbidden: 403,
  device_disabled: 403,
  not_found: 404,
  identity_not_found: 404,
  hard_example_not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  identity_exists: 409,
  rollout_in_progress: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unprocessable_entity: 422,
  invalid_artifact: 422,
  webhook_url_refused: 422,
  photo_refused: 422,
  no_embedder: 422,
  too_many_requests: 429,
  busy: 429,
  internal: 500,
  unavailable: 503,
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
