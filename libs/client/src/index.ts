export { ApiClient, ApiError, ApiResponseError, readJson, type ApiClientOptions } from './api-client';
export {
  BlobIntegrityError,
  BlobStallError,
  downloadBlob,
  requestOnce,
  sha256File,
  HASH_READ_BYTES,
  type BlobDownloadOptions,
  type BlobDownloadResult,
} from './blob-download';
export { uploadMultipart, uploadMultipartParsed, type UploadPart } from './multipart-upload';
export { buildUploadManifest, uploadModelVersion, type ModelFilePart } from './model-upload';
export { EdgeloopApi, type DriftEventQuery, type HardExampleQuery } from './dashboard-api';
export { EnrolmentApi } from './enrolment-api';
