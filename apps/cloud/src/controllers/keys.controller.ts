import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { PublicKeysResponse } from '@edgeloop/contracts';
import { ManifestSigner } from '../repositories/manifest-signer';

@ApiTags('keys')
@Controller('keys')
export class KeysController {
  constructor(private readonly signer: ManifestSigner) {}

  @Get()
  @ApiOperation({ summary: 'The ed25519 public key that verifies manifest and desired-state signatures' })
  list(): PublicKeysResponse {
    const key = this.signer.publicKey();
    return { keys: [{ keyId: key.keyId, alg: key.alg, publicKey: key.publicKeyPem }] };
  }
}
