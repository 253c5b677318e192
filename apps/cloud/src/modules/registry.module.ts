import { Module } from '@nestjs/common';
import { BlobsController } from '../controllers/blobs.controller';
import { ModelsController } from '../controllers/models.controller';
import { OnnxInspector } from '../onnx/onnx-inspector';
import { BlobVerificationRepository } from '../repositories/blob-verification.repository';
import { ModelRepository } from '../repositories/model.repository';
import { ModelUploadService } from '../services/model-upload.service';
import { ModelUploadSpooler } from '../services/model-upload.spooler';
import { UploadStaging } from '../services/model-upload.staging';
import { RegistryService } from '../services/registry.service';

/**
 * The model registry: streamed uploads checked in a child process, versions and aliases, signed manifests,
 * blob downloads. Needs only SQL and S3; rollouts, drift, identities and retraining read it.
 */
@Module({
  controllers: [ModelsController, BlobsController],
  providers: [OnnxInspector, ModelRepository, BlobVerificationRepository, UploadStaging, ModelUploadSpooler, ModelUploadService, RegistryService],
  exports: [ModelRepository, BlobVerificationRepository, RegistryService],
})
export class RegistryModule {}
