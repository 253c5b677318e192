import type { Provider, Type } from '@nestjs/common';
import { DeviceEnrolmentController, EnrolmentTokensController } from './enrolment.controller';
import { EnrolmentTokenRepository } from './enrolment-token.repository';
import { EnrolmentService } from './enrolment.service';

/**
 * Zero-touch enrolment: enrolment tokens (create, list, revoke) and `POST /devices/enrol`. Registered in
 * AppModule's scope with the device part (Redis and a broker), like IdentitiesFeature, because it
 * provisions through the app's DeviceService and writes with its SqlDatabase and AuditRepository.
 */
export const EnrolmentFeature: { controllers: Type[]; providers: Provider[] } = {
  controllers: [EnrolmentTokensController, DeviceEnrolmentController],
  providers: [EnrolmentTokenRepository, EnrolmentService],
};
