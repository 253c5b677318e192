export { ApiClient, ApiError, readJson, type ApiClientOptions } from './api-client';
export { BlobIntegrityError, downloadBlob, sha256File, type BlobDownloadOptions } from './blob-download';
export { uploadMultipart, type UploadPart } from './multipart-upload';
export { EdgeloopApi, type HardExampleQuery } from './dashboard-api';
