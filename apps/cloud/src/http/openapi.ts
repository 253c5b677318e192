import { Body, type INestApplication } from '@nestjs/common';
import { ApiBody, DocumentBuilder, SwaggerModule, type OpenAPIObject, type SchemaObject } from '@nestjs/swagger';
import type { ErrorCode } from '@edgeloop/contracts';
import { z } from 'zod';
import { ZodValidationPipe } from './zod-validation.pipe';

/**
 * The OpenAPI document is generated from the same zod schemas that validate the requests (`ZodBody`), so
 * the API description and the server cannot disagree; openapi.spec.ts checks the built document against
 * every body's validating schema.
 */

/** How a request body schema is written in the OpenAPI document: what a client may send (zod's input side). */
export const OPENAPI_JSON_SCHEMA_OPTIONS = { target: 'openapi-3.0', io: 'input', unrepresentable: 'any' } as const;

/** The OpenAPI 3.0 schema of what `schema` accepts. */
export function requestBodySchema(schema: z.ZodType): SchemaObject {
  const { $schema: _dialect, ...jsonSchema } = z.toJSONSchema(schema, OPENAPI_JSON_SCHEMA_OPTIONS);
  return jsonSchema as SchemaObject;
}

/** The OpenAPI 3.0 schema of an answer: what `schema` produces (zod's output side), for `@ApiOkResponse({ schema })`. */
export function responseBodySchema(schema: z.ZodType): SchemaObject {
  const { $schema: _dialect, ...jsonSchema } = z.toJSONSchema(schema, { ...OPENAPI_JSON_SCHEMA_OPTIONS, io: 'output' });
  return jsonSchema as SchemaObject;
}

/**
 * A JSON request body validated with `schema` (400 `code` naming every bad field) and documented as that
 * schema's JSON Schema: one decorator, so the documented body is the validated one.
 */
export function ZodBody(schema: z.ZodType, code: ErrorCode = 'invalid_body'): ParameterDecorator {
  const validated = Body(new ZodValidationPipe(schema, code));
  const documented = ApiBody({ schema: requestBodySchema(schema) });
  return (target, key, index) => {
    if (key === undefined) throw new Error('ZodBody decorates a parameter of a route method');
    validated(target, key, index);
    const descriptor = Object.getOwnPropertyDescriptor(target, key);
    if (!descriptor) throw new Error(`ZodBody: ${String(key)} is not a method of ${target.constructor.name}`);
    documented(target, key, descriptor);
  };
}

/** The OpenAPI document of the app's routes. */
export function openApiDocument(app: INestApplication): OpenAPIObject {
  return SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('edgeloop')
      .setDescription('Model registry, rollouts, prediction metrics, drift and webhooks for edge face recognition')
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
}
