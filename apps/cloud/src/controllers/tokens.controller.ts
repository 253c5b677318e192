import { Controller, Delete, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { AuthenticatedRequest, RequireRole } from '../auth/auth.guard';
import { ZodBody } from '../http/openapi';
import { TOKEN_ROLES } from '../repositories/token.repository';
import { TokenService } from '../services/token.service';

const NewTokenSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/, '1-64 of letters, digits, space . _ -'),
  role: z.enum(TOKEN_ROLES),
});

@ApiTags('tokens')
@ApiBearerAuth()
@Controller('tokens')
export class TokensController {
  constructor(private readonly tokens: TokenService) {}

  @Post()
  @RequireRole('admin')
  @ApiOperation({ summary: 'Create an API token; the secret is in this answer only' })
  @ApiCreatedResponse({ description: '{ token, id, name, role }' })
  async create(@ZodBody(NewTokenSchema) body: z.infer<typeof NewTokenSchema>, @Req() req: AuthenticatedRequest) {
    const { token, record } = await this.tokens.issue(body.name, body.role, req.principal?.tokenId ?? null);
    return { token, ...record };
  }

  @Get()
  @RequireRole('admin')
  @ApiOperation({ summary: 'List API tokens (never their secrets)' })
  async list() {
    return { tokens: await this.tokens.list() };
  }

  @Delete(':id')
  @RequireRole('admin')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke a token; it stops working at once' })
  async revoke(@Param('id') id: string, @Req() req: AuthenticatedRequest) {
    await this.tokens.revoke(id, req.principal?.tokenId ?? null);
  }
}
