import {
  enrolmentPaths,
  type CreateEnrolmentTokenRequest,
  type CreateEnrolmentTokenResponse,
  type EnrolDeviceRequest,
  type EnrolDeviceResponse,
  type EnrolmentTokenSummary,
} from '@edgeloop/contracts';
import type { ApiClient } from './api-client';

/**
 * Zero-touch enrolment: tokens for operators (CLI), and the device's one enrol call, which needs no API
 * token (the edge worker). Node only: the dashboard's browser build does not include it.
 */
export class EnrolmentApi {
  constructor(readonly client: ApiClient) {}

  createToken(body: CreateEnrolmentTokenRequest): Promise<CreateEnrolmentTokenResponse> {
    return this.client.post(enrolmentPaths.tokens(), body);
  }
  async listTokens(): Promise<EnrolmentTokenSummary[]> {
    return (await this.client.get<{ tokens: EnrolmentTokenSummary[] }>(enrolmentPaths.tokens())).tokens;
  }
  revokeToken(id: string): Promise<EnrolmentTokenSummary> {
    return this.client.post(`${enrolmentPaths.token(id)}/revoke`);
  }
  enrol(body: EnrolDeviceRequest): Promise<EnrolDeviceResponse> {
    return this.client.post(enrolmentPaths.enrol(), body);
  }
}
