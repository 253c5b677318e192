import { Controller, Delete, Get, HttpCode, Param, Post, Put, Req, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiPayloadTooLargeResponse,
  ApiTags,
  ApiUnauthorizedResponse,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import { MODEL_FILE_ROLES, SetAliasRequestSchema } from '@edgeloop/contracts';
import type { Response } from 'express';
import { z } from 'zod';
import { AuthenticatedRequest, RequireRole } from '../auth/auth.guard';
import { ZodBody } from '../http/openapi';
import { checkModelName, ModelUploadService } from '../services/model-upload.service';
import { discardBody, ModelUploadSpooler } from '../services/model-upload.spooler';
import { RegistryService } from '../services/registry.service';

const uploadBody = {
  type: 'object',
  description: 'One part per model file, named by its role; an optional `manifest` JSON field.',
  properties: {
    ...Object.fromEntries(MODEL_FILE_ROLES.map((role) => [role, { type: 'string', format: 'binary' }])),
    manifest: {
      type: 'string',
      description:
        'JSON read with UploadManifestSchema: { schema?, parent?, labels?, thresholds?, metrics?, source?, drift?, files?: [{ role, sha256?, size? }] }',
    },
  },
};

@ApiTags('models')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'no valid bearer token' })
@ApiForbiddenResponse({ description: 'the token role is too low' })
@Controller('models')
export class ModelsController {
  constructor(
    private readonly registry: RegistryService,
    private readonly spooler: ModelUploadSpooler,
    private readonly uploads: ModelUploadService,
  ) {}

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List models with their latest version and aliases' })
  async list() {
    return { models: await this.registry.listModels() };
  }

  @Post(':name/versions')
  @RequireRole('operator')
  @ApiOperation({ summary: 'Upload a new version (multipart, streamed to S3, validated, signed)' })
  @ApiConsumes('multipart/form-data')
  @ApiBody({ schema: uploadBody })
  @ApiCreatedResponse({ description: 'the registered version with its signed manifest' })
  @ApiBadRequestResponse({ description: 'invalid name, unknown role, missing file, malformed manifest' })
  @ApiNotFoundResponse({ description: 'the parent version does not exist' })
  @ApiPayloadTooLargeResponse({ description: 'over EDGELOOP_MAX_UPLOAD_BYTES' })
  @ApiUnprocessableEntityResponse({ description: 'empty, unloadable, or wrong-shaped ONNX for its role' })
  async upload(@Param('name') name: string, @Req() req: AuthenticatedRequest, @Res({ passthrough: true }) res: Response) {
    try {
      checkModelName(name);
      this.uploads.prepareValidation();
      const upload = await this.spooler.spool(req);
      try {
        const version = await this.uploads.upload(name, upload, req.principal ?? null);
        res.status(201);
        return version;
      } finally {
        await upload.dispose();
      }
    } catch (err) {
      if (!req.complete) {
        discardBody(req);
        res.setHeader('Connection', 'close');
      }
      throw err;
    }
  }

  @Get(':name/versions')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List the versions of a model' })
  @ApiNotFoundResponse({ description: 'no such model' })
  async versions(@Param('name') name: string) {
    return { versions: await this.registry.listVersions(name) };
  }

  @Get(':name/versions/:ref')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'A version by number or alias, with its manifest and signature' })
  @ApiOkResponse({ description: 'the version' })
  @ApiNotFoundResponse({ description: 'no such model, version or alias' })
  version(@Param('name') name: string, @Param('ref') ref: string) {
    return this.registry.getVersion(name, ref);
  }

  @Get(':name/aliases')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Aliases of a model' })
  async aliases(@Param('name') name: string) {
    return { aliases: await this.registry.listAliases(name) };
  }

  @Put(':name/aliases/:alias')
  @RequireRole('operator')
  @HttpCode(200)
  @ApiOperation({ summary: 'Point an alias (production, candidate, …) at a version' })
  @ApiBadRequestResponse({ description: 'invalid alias or body' })
  @ApiNotFoundResponse({ description: 'no such model or version' })
  async setAlias(
    @Param('name') name: string,
    @Param('alias') alias: string,
    @ZodBody(SetAliasRequestSchema) body: z.infer<typeof SetAliasRequestSchema>,
    @Req() req: AuthenticatedRequest,
  ) {
    await this.registry.setAlias(name, alias, body.version, req.principal?.tokenId ?? null);
    return { name, alias, version: body.version };
  }

  @Delete(':name/aliases/:alias')
  @RequireRole('operator')
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove an alias' })
  @ApiNotFoundResponse({ description: 'no such model or alias' })
  async deleteAlias(@Param('name') name: string, @Param('alias') alias: string, @Req() req: AuthenticatedRequest) {
    await this.registry.deleteAlias(name, alias, req.principal?.tokenId ?? null);
  }
}
