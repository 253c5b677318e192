import { Catch, type RpcExceptionFilter } from '@nestjs/common';
import { throwError, type Observable } from 'rxjs';

/**
 * The exception filter of the device-message transport: a handler's error goes back to `DeviceChannel`
 * as it was thrown (Nest's default RPC filter would log a stack per attempt and replace the error with
 * "Internal server error"), so the channel withholds the PUBACK, logs the real reason and retries.
 */
@Catch()
export class DeviceMessageErrors implements RpcExceptionFilter<unknown> {
  catch(exception: unknown): Observable<never> {
    return throwError(() => exception);
  }
}
