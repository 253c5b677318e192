import { Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import {
  CreateIdentityRequestSchema,
  EmbedderQuerySchema,
  identityPaths,
  MAX_ENROLMENT_PHOTOS,
  MergeIdentityRequestSchema,
  UpdateIdentityRequestSchema,
  type CreateIdentityRequest,
  type EnrolmentResponse,
  type MergeIdentityRequest,
  type UpdateIdentityRequest,
} from '@edgeloop/contracts';
import type { Response } from 'express';
import type { z } from 'zod';
import { AuthenticatedRequest, RequireRole } from '../auth/auth.guard';
import { DomainError } from '../errors/domain.errors';
import { ZodBody } from '../http/openapi';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import type { EnrolmentPhotoView } from './identity.service';
import { IdentityService } from './identity.service';
import { readPhotoUpload } from './photo-upload';

@ApiTags('identities')
@ApiBearerAuth()
@Controller('identities')
export class IdentitiesController {
  constructor(private readonly identities: IdentityService) {}

  @Post()
  @RequireRole('operator')
  @ApiOperation({ summary: 'Create an identity (its name is the label a head outputs)' })
  async create(@ZodBody(CreateIdentityRequestSchema) body: CreateIdentityRequest, @Req() req: AuthenticatedRequest, @Res({ passthrough: true }) res: Response) {
    res.status(201);
    return this.identities.create(body.name, body.displayName ?? null, actor(req));
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Every identity with its number of enrolment photos' })
  async list() {
    return { identities: await this.identities.list() };
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'One identity (by id or name) with its enrolment photos' })
  async get(@Param('id') id: string) {
    const identity = await this.identities.get(id);
    return { ...identity, enrolmentPhotos: (await this.identities.photos(identity.id)).map(presentPhoto) };
  }

  @Patch(':id')
  @RequireRole('operator')
  @ApiOperation({ summary: 'Rename (hard-example labels follow) or change the display name' })
  async update(@Param('id') id: string, @ZodBody(UpdateIdentityRequestSchema) body: UpdateIdentityRequest, @Req() req: AuthenticatedRequest) {
    return this.identities.update(id, body, actor(req));
  }

  @Delete(':id')
  @RequireRole('operator')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete an identity and its photos; its labelled hard examples go back to the queue' })
  async remove(@Param('id') id: string, @Req() req: AuthenticatedRequest) {
    await this.identities.delete(id, actor(req));
  }

  @Post(':id/merge')
  @RequireRole('operator')
  @HttpCode(200)
  @ApiOperation({ summary: 'Merge another identity into this one (photos and labels move, the other is deleted)' })
  async merge(@Param('id') id: string, @ZodBody(MergeIdentityRequestSchema) body: MergeIdentityRequest, @Req() req: AuthenticatedRequest) {
    return this.identities.merge(id, body.from, actor(req));
  }

  @Post(':id/photos')
  @RequireRole('operator')
  @ApiOperation({ summary: `Enrol photos (multipart, field "photos", up to ${MAX_ENROLMENT_PHOTOS}); each must show exactly one face` })
  @ApiConsumes('multipart/form-data')
  @ApiBody({ schema: { type: 'object', properties: { photos: { type: 'array', items: { type: 'string', format: 'binary' } } } } })
  @ApiQuery({ name: 'model', required: false, description: 'whose embedder, e.g. face-id@production (the default)' })
  async enrol(
    @Param('id') id: string,
    @Query(new ZodValidationPipe(EmbedderQuerySchema, 'invalid_query')) query: z.output<typeof EmbedderQuerySchema>,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ): Promise<EnrolmentResponse> {
    const photos = await this.identities
      .get(id) // 404 before reading the body
      .then(() => readPhotoUpload(req))
      .catch((err: unknown) => {
        // an answer before the whole body was read: close, so the rest of the upload is not taken as a next request
        if (!req.complete) res.setHeader('Connection', 'close');
        throw err;
      });
    const enrolment = await this.identities.enrol(id, photos, query.model, actor(req));
    const enrolled = enrolment.results.filter((r) => r.status === 'enrolled').length;
    if (enrolled === 0) {
      // nothing stored: 422 naming every photo and why
      const refusals = enrolment.results.map((r) => (r.status === 'refused' ? r.message : '')).join('; ');
      throw new DomainError(422, 'photo_refused', `no photo was enrolled: ${refusals}`, enrolment.results);
    }
    res.status(201);
    const body: EnrolmentResponse = {
      identity: enrolment.identity,
      model: { ...enrolment.models.version, embedderSha256: enrolment.models.embedderSha256 },
      enrolled,
      refused: enrolment.results.length - enrolled,
      results: enrolment.results.map((r) => (r.status === 'enrolled' ? { ...r, photo: presentPhoto(r.photo) } : r)),
    };
    return body;
  }

  @Get(':id/photos')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'The enrolment photos of an identity' })
  async photos(@Param('id') id: string) {
    return { photos: (await this.identities.photos(id)).map(presentPhoto) };
  }

  @Delete(':id/photos/:photoId')
  @RequireRole('operator')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete an enrolment photo (its crop and embeddings)' })
  async deletePhoto(@Param('id') id: string, @Param('photoId') photoId: string, @Req() req: AuthenticatedRequest) {
    await this.identities.deletePhoto(id, photoId, actor(req));
  }

  @Get(':id/photos/:photoId/crop')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'The aligned 112×112 PNG crop of an enrolment photo' })
  async crop(@Param('id') id: string, @Param('photoId') photoId: string, @Res() res: Response) {
    const bytes = await this.identities.crop(id, photoId);
    res.status(200).setHeader('Content-Type', 'image/png');
    res.setHeader('Cache-Control', 'private, max-age=31536000, immutable');
    res.end(bytes);
  }
}

function actor(req: AuthenticatedRequest): string | null {
  return req.principal?.tokenId ?? null;
}

function presentPhoto(photo: EnrolmentPhotoView) {
  return {
    id: photo.id,
    identityId: photo.identityId,
    cropSha256: photo.cropSha256,
    cropUrl: identityPaths.photoCrop(photo.identityId, photo.id),
    sourceName: photo.sourceName,
    sourceSize: photo.sourceSize,
    detectionScore: photo.detectionScore,
    embedders: photo.embedders,
    createdAt: photo.createdAt,
  };
}
