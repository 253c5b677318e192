import { DomainError } from '../errors/domain.errors';

/** A webhook URL the SSRF rules refuse (422): `details` lists each refused address with its range. */
export class WebhookUrlRefusedError extends DomainError {
  constructor(message: string, details: unknown[] = []) {
    super(422, 'webhook_url_refused', message, details);
  }
}
