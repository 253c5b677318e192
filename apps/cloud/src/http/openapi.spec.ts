import 'reflect-metadata';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Body, Controller, Module, Post, Type, type Provider } from '@nestjs/common';
import { CONTROLLER_WATERMARK, METHOD_METADATA, PARAMTYPES_METADATA, ROUTE_ARGS_METADATA, SELF_DECLARED_DEPS_METADATA } from '@nestjs/common/constants';
import { NestFactory } from '@nestjs/core';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { ApiBody, type OpenAPIObject } from '@nestjs/swagger';
import { z } from 'zod';
import { openApiDocument, ZodBody } from './openapi';
import { ZodValidationPipe } from './zod-validation.pipe';

/**
 * The OpenAPI document against the zod schemas that validate the requests: every JSON request body the
 * document describes must be, exactly, the JSON Schema (OpenAPI 3.0, input side) of the schema the route's
 * body pipe validates with — no hand-written body — and every route that reads a body must validate it
 * with a zod schema. The document is built as the served one is (`openApiDocument`), over every controller
 * of the cloud (found by scanning for `*.controller.ts`, so a new controller is checked without a list).
 */

const cloudSrc = join(__dirname, '..');

/** The JSON Schema the document must hold for a body validated with `schema`, computed here with zod itself. */
function expectedBodySchema(schema: z.ZodType): unknown {
  const { $schema: _dialect, ...jsonSchema } = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'any' });
  return jsonSchema;
}

function cloudControllers(): Type[] {
  const files = readdirSync(cloudSrc, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.controller.ts'));
  const controllers = files.flatMap((file) =>
    Object.values(require(join(cloudSrc, file)) as Record<string, unknown>).filter(
      (value): value is Type => typeof value === 'function' && Reflect.getMetadata(CONTROLLER_WATERMARK, value) === true,
    ),
  );
  return [...new Set(controllers)];
}

/** Stand-ins for what the controllers inject: building the document calls no route. */
function standIns(controllers: Type[]): Provider[] {
  const tokens = new Set<unknown>();
  for (const controller of controllers) {
    for (const type of (Reflect.getMetadata(PARAMTYPES_METADATA, controller) ?? []) as unknown[]) tokens.add(type);
    for (const { param } of (Reflect.getMetadata(SELF_DECLARED_DEPS_METADATA, controller) ?? []) as { param: unknown }[]) tokens.add(param);
  }
  return [...tokens].filter((token) => token !== undefined && token !== Object).map((token) => ({ provide: token as string, useValue: {} }));
}

async function documentOf(controllers: Type[]): Promise<OpenAPIObject> {
  @Module({ controllers, providers: standIns(controllers) })
  class DocumentedRoutes {}
  const app = await NestFactory.create(DocumentedRoutes, { logger: false, abortOnError: false });
  try {
    return openApiDocument(app);
  } finally {
    await app.close();
  }
}

interface RouteArgument {
  index: number;
  data?: unknown;
  pipes?: unknown[];
}

/** The schema each HTTP route validates its whole body with: `Controller_method` → schema, or null when a body is read unvalidated. */
function bodySchemas(controllers: Type[]): Map<string, z.ZodType | null> {
  const found = new Map<string, z.ZodType | null>();
  for (const controller of controllers) {
    for (const method of Object.getOwnPropertyNames(controller.prototype)) {
      // HTTP routes only: MQTT handlers' @Payload() shares the body's parameter slot
      if (Reflect.getMetadata(METHOD_METADATA, (controller.prototype as Record<string, unknown>)[method] as object) === undefined) continue;
      const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, method) ?? {}) as Record<string, RouteArgument>;
      for (const [key, arg] of Object.entries(args)) {
        if (Number(key.split(':')[0]) !== RouteParamtypes.BODY) continue;
        const pipe = arg.pipes?.find((p): p is ZodValidationPipe<z.ZodType> => p instanceof ZodValidationPipe);
        found.set(`${controller.name}_${method}`, arg.data === undefined && pipe ? pipe.schema : null);
      }
    }
  }
  return found;
}

/** Everything wrong between the document's request bodies and the routes' validating schemas, one line each. */
function bodyProblems(document: OpenAPIObject, controllers: Type[]): string[] {
  const schemas = bodySchemas(controllers);
  const problems: string[] = [];
  const documented = new Set<string>();
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item) as [
      string,
      { operationId?: string; requestBody?: { content?: Record<string, { schema?: unknown }> } },
    ][]) {
      if (!operation?.requestBody) continue;
      const route = `${method.toUpperCase()} ${path} (${operation.operationId})`;
      const content = operation.requestBody.content ?? {};
      if (Object.keys(content).every((type) => type === 'multipart/form-data')) continue; // file uploads: parts, not JSON
      documented.add(operation.operationId ?? '');
      const schema = schemas.get(operation.operationId ?? '');
      if (!schema) {
        problems.push(`${route}: the document describes a request body that no zod schema validates (write the body with ZodBody(schema))`);
        continue;
      }
      for (const [type, media] of Object.entries(content)) {
        if (JSON.stringify(media.schema) !== JSON.stringify(expectedBodySchema(schema))) {
          problems.push(`${route}: the ${type} body in the document is not the JSON Schema of the schema that validates it`);
        }
      }
    }
  }
  for (const [operationId, schema] of schemas) {
    if (schema === null) problems.push(`${operationId} reads a request body that no zod schema validates (use ZodBody(schema))`);
    else if (!documented.has(operationId)) problems.push(`${operationId} validates its body with zod but the document has no body for it`);
  }
  return problems.sort();
}

describe('the OpenAPI document and the zod schemas', () => {
  const controllers = cloudControllers();
  let document: OpenAPIObject;

  beforeAll(async () => {
    document = await documentOf(controllers);
  });

  it('finds the cloud controllers', () => {
    const names = controllers.map((c) => c.name);
    for (const name of [
      'ModelsController',
      'DeploymentsController',
      'DevicesController',
      'WebhooksController',
      'IdentitiesController',
      'EnrolmentTokensController',
    ]) {
      expect({ name, found: names.includes(name) }).toEqual({ name, found: true });
    }
  });

  it("describes every JSON request body as exactly the JSON Schema of the route's validating zod schema", () => {
    expect(bodyProblems(document, controllers)).toEqual([]);
    const bodies = [...bodySchemas(controllers).values()].filter(Boolean);
    expect(bodies.length).toBeGreaterThanOrEqual(15);
  });

  it('the document carries the contract: the deployment body requires model and target and takes only its fields', () => {
    const created = Object.values(document.paths)
      .flatMap((item) => Object.values(item))
      .find((op) => op?.operationId === 'DeploymentsController_create');
    const schema = created?.requestBody?.content?.['application/json']?.schema as { required?: string[]; additionalProperties?: boolean; properties?: object };
    expect(schema.required?.sort()).toEqual(['model', 'target']);
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties ?? {}).sort()).toEqual(['model', 'strategy', 'target']);
  });

  it('reports a hand-written body, an unvalidated body, and a body that differs from its schema', async () => {
    const Schema = z.strictObject({ name: z.string().min(1) });
    @Controller('probe')
    class ProbeController {
      @Post('written-by-hand')
      @ApiBody({ schema: { type: 'object', properties: { name: { type: 'string' } } } })
      handWritten(@Body() body: unknown) {
        return body;
      }
      @Post('validated')
      validated(@ZodBody(Schema) body: unknown) {
        return body;
      }
      @Post('drifted')
      @ApiBody({ schema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } })
      drifted(@Body(new ZodValidationPipe(Schema)) body: unknown) {
        return body;
      }
    }
    const probe = await documentOf([ProbeController]);
    expect(bodyProblems(probe, [ProbeController])).toEqual([
      'POST /probe/drifted (ProbeController_drifted): the application/json body in the document is not the JSON Schema of the schema that validates it',
      'POST /probe/written-by-hand (ProbeController_handWritten): the document describes a request body that no zod schema validates (write the body with ZodBody(schema))',
      'ProbeController_handWritten reads a request body that no zod schema validates (use ZodBody(schema))',
    ]);
  });
});
