import 'reflect-metadata';
import { INestApplication, LogLevel, RequestMethod } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SwaggerModule } from '@nestjs/swagger';
import { ERROR_STATUS, errorBody } from '@edgeloop/contracts';
import type { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import type { AddressInfo } from 'node:net';
import { CloudConfig } from '../config/cloud.config';
import { applyHttpTimeouts } from '../http/http-timeouts';
import { openApiDocument } from '../http/openapi';
import { roleAllows, TokenService } from '../services/token.service';
import { DeviceChannel } from '../mqtt/device-channel';
import { AppModule } from './app.module';

export const API_PREFIX = 'api/v1';

export interface RunningCloud {
  app: INestApplication;
  /** Set on the embedded first start only: the admin token, to be shown once. */
  firstAdminToken?: string;
  url: string;
  port: number;
  close(): Promise<void>;
}

const levels: LogLevel[] = ['error', 'warn', 'log', 'debug', 'verbose'];

/**
 * Content Security Policy for everything the cloud serves, the single-page dashboard included: scripts,
 * styles, fonts and API calls from this origin only; images also as data: and blob: URLs (charts, crops).
 * No upgrade-insecure-requests: the embedded mode is plain HTTP on loopback; behind TLS, HSTS does that job.
 */
const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  connectSrc: ["'self'"],
  imgSrc: ["'self'", 'data:', 'blob:'],
  fontSrc: ["'self'", 'data:'],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  upgradeInsecureRequests: null,
};

/** Pages of third-party UIs that carry inline <style> blocks and style attributes; their scripts stay 'self'. */
const INLINE_STYLE_CSP_DIRECTIVES = { ...CSP_DIRECTIVES, styleSrc: ["'self'", "'unsafe-inline'"] };

const DOCS_PATH = '/api/docs';
/** Swagger UI, and bull-board under the API prefix (mounted by the dashboard feature). */
const INLINE_STYLE_PATHS = [DOCS_PATH, `/${API_PREFIX}/admin/queues`];

/**
 * Security headers on every response (helmet: CSP, HSTS, nosniff, X-Frame-Options DENY, no X-Powered-By),
 * and a viewer token on `/metrics` and `/api/docs*` unless configured public. These two are served
 * outside Nest's routing (Swagger mounts its own handlers), so the check is middleware here.
 */
function hardenHttp(app: INestApplication, config: CloudConfig): void {
  const strict = helmet({ contentSecurityPolicy: { directives: CSP_DIRECTIVES }, frameguard: { action: 'deny' } });
  const inlineStyles = helmet({ contentSecurityPolicy: { directives: INLINE_STYLE_CSP_DIRECTIVES }, frameguard: { action: 'deny' } });
  app.use((req: Request, res: Response, next: NextFunction) =>
    (INLINE_STYLE_PATHS.some((path) => req.path.startsWith(path)) ? inlineStyles : strict)(req, res, next),
  );
  const guarded = [...(config.publicEndpoints.metrics ? [] : ['/metrics']), ...(config.publicEndpoints.docs ? [] : [DOCS_PATH, `${DOCS_PATH}-json`])];
  if (guarded.length === 0) return;
  const tokens = app.get(TokenService);
  app.use(guarded, (req: Request, res: Response, next: NextFunction) => {
    const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const refuse = (code: 'unauthorized' | 'forbidden', message: string) => res.status(ERROR_STATUS[code]).json(errorBody(code, message));
    if (!match) return void refuse('unauthorized', `${req.baseUrl} needs a bearer token (viewer or above)`);
    tokens.authenticate(match[1]!).then(
      (principal) => {
        if (!principal) refuse('unauthorized', 'the bearer token is unknown or revoked');
        else if (!roleAllows(principal.role, 'viewer')) refuse('forbidden', `${req.baseUrl} needs a viewer token or above`);
        else next();
      },
      (error: unknown) => next(error),
    );
  });
}

/** Creates and starts the cloud service; port 0 picks a free port, and the chosen URL is returned. */
export async function startCloud(config: CloudConfig, options: { logger?: boolean } = {}): Promise<RunningCloud> {
  const app = await NestFactory.create(AppModule.forRoot(config), {
    logger: options.logger === false ? false : levels.slice(0, levels.indexOf(config.logLevel) + 1),
    bodyParser: true,
  });
  app.setGlobalPrefix(API_PREFIX, { exclude: [{ path: 'metrics', method: RequestMethod.GET }] });
  app.enableShutdownHooks();
  applyHttpTimeouts(app.getHttpServer(), config.httpTimeouts);
  hardenHttp(app, config);
  const document = openApiDocument(app);
  SwaggerModule.setup(DOCS_PATH.slice(1), app, document, { jsonDocumentUrl: `${DOCS_PATH.slice(1)}-json` });
  if (config.rolloutsEnabled) {
    // a hybrid app: device messages through the MQTT transport (DeviceChannel), HTTP beside it; the
    // transport connects before the app's init hooks, which publish desired states when rollouts resume
    app.connectMicroservice({ strategy: app.get(DeviceChannel) });
    await app.startAllMicroservices();
  }
  const firstAdminToken = await app.get(TokenService).bootstrap();
  await app.listen(config.http.port, config.http.host);
  const port = (app.getHttpServer().address() as AddressInfo).port;
  return { app, port, firstAdminToken, url: `http://${config.http.host}:${port}`, close: () => app.close() };
}
