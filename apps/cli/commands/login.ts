import { ApiClient, EdgeloopApi } from '@edgeloop/client';
import type { Command } from 'commander';
import { loginFile, saveLogin } from '../cli-config';
import { say } from '../output';

/** `edgeloop login URL --token T`: checks the token against the API, then stores both. */
export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('store the cloud URL and an API token for the other commands')
    .argument('<url>', 'the cloud, e.g. http://127.0.0.1:8080')
    .requiredOption('--token <token>', 'an API token (edgeloop tokens are elt_…)')
    .action(async (url: string, options: { token: string }) => {
      const client = new ApiClient({ baseUrl: url, token: options.token });
      await new EdgeloopApi(client).models();
      saveLogin({ url: client.baseUrl, token: options.token });
      say(`logged in to ${client.baseUrl} (saved in ${loginFile()})`);
    });
}
