import 'reflect-metadata';
import { INestApplication, LogLevel, RequestMethod } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { AddressInfo } from 'node:net';
import { CloudConfig } from '../config/cloud.config';
import { TokenService } from '../services/token.service';
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

/** Creates and starts the cloud service; port 0 picks a free port, and the chosen URL is returned. */
export async function startCloud(config: CloudConfig, options: { logger?: boolean } = {}): Promise<RunningCloud> {
  const app = await NestFactory.create(AppModule.forRoot(config), {
    logger: options.logger === false ? false : levels.slice(0, levels.indexOf(config.logLevel) + 1),
    bodyParser: true,
  });
  app.setGlobalPrefix(API_PREFIX, { exclude: [{ path: 'metrics', method: RequestMethod.GET }] });
  app.enableShutdownHooks();
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('edgeloop')
      .setDescription('Model registry, rollouts, prediction metrics, drift and webhooks for edge face recognition')
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('api/docs', app, document, { jsonDocumentUrl: 'api/docs-json' });
  const firstAdminToken = await app.get(TokenService).bootstrap();
  await app.listen(config.http.port, config.http.host);
  const port = (app.getHttpServer().address() as AddressInfo).port;
  return { app, port, firstAdminToken, url: `http://${config.http.host}:${port}`, close: () => app.close() };
}
