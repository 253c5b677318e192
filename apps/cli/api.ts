import { ApiClient, EdgeloopApi } from '@edgeloop/client';
import { loadLogin } from './cli-config';

/** The transport with the stored login (for blob downloads, uploads and the enrolment API). */
export function cliClient(): ApiClient {
  const login = loadLogin();
  return new ApiClient({ baseUrl: login.url, token: login.token });
}

/** The REST API with the stored login: every answer read with its contract's response schema. */
export function cliApi(): EdgeloopApi {
  return new EdgeloopApi(cliClient());
}
