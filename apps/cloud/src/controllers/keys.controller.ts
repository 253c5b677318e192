import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ManifestSigner } from '../repositories/manifest-signer';

@ApiTags('keys')
@Controller('keys')
export class KeysController {
  constructor(private readonly signer: ManifestSigner) {}

  @Get()
  @ApiOperation({ summary: 'The ed25519 public key that verifies manifest and desired-state signatures' })
  list() {
    return { keys: [this.signer.publicKey()] };
  }
}
