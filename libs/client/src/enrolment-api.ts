import {
  CreateEnrolmentTokenResponseSchema,
  EnrolDeviceResponseSchema,
  enrolmentPaths,
  EnrolmentTokenListResponseSchema,
  EnrolmentTokenSummarySchema,
  type CreateEnrolmentTokenRequest,
  type CreateEnrolmentTokenResponse,
  type EnrolDeviceRequest,
  type EnrolDeviceResponse,
  type EnrolmentTokenSummary,
} from '@edgeloop/contracts';
import type { ApiClient } from './api-client';

/**
 * Zero-touch enrolment: tokens for operators (CLI), and the device's one enrol call, which needs no API
 * token (the edge worker). Every answer is read with its response schema. Node only: the dashboard's browser
 * build does not include it.
 */
export class EnrolmentApi {
  constructor(readonly client: ApiClient) {}

  createToken(body: CreateEnrolmentTokenRequest): Promise<CreateEnrolmentTokenResponse> {
    return this.client.call('POST', enrolmentPaths.tokens(), CreateEnrolmentTokenResponseSchema, body);
  }
  async listTokens(): Promise<EnrolmentTokenSummary[]> {
    return (await this.client.call('GET', enrolmentPaths.tokens(), EnrolmentTokenListResponseSchema)).tokens;
  }
  revokeToken(id: string): Promise<EnrolmentTokenSummary> {
    return this.client.call('POST', enrolmentPaths.revoke(id), EnrolmentTokenSummarySchema, {});
  }
  enrol(body: EnrolDeviceRequest): Promise<EnrolDeviceResponse> {
    return this.client.call('POST', enrolmentPaths.enrol(), EnrolDeviceResponseSchema, body);
  }
}
