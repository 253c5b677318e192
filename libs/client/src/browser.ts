/** The part of @edgeloop/client that runs in a browser (no file system): the dashboard's entry. */
export { ApiClient, ApiError, ApiResponseError, readJson, type ApiClientOptions } from './api-client';
export { EdgeloopApi, type DriftEventQuery, type HardExampleQuery } from './dashboard-api';
