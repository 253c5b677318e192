import { ApiClient, ApiError, EdgeloopApi } from '@edgeloop/client';
import { EnrolmentResultSchema, MAX_ENROLMENT_PHOTOS, type EnrolmentResponse, type Identity } from '@edgeloop/contracts';
import { z } from 'zod';
import { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { loadLogin } from '../cli-config';
import { printJson, say, warn } from '../output';

/** Enrolment runs face detection and embedding in the cloud: allow it more time than other requests. */
const ENROL_TIMEOUT_MS = 300_000;

export interface PhotoFile {
  name: string;
  bytes: Uint8Array;
}

/**
 * Sends photos to `POST /identities/{id}/photos`, MAX_ENROLMENT_PHOTOS per request. Returns every
 * per-photo result; a request whose photos were all refused (422) counts as refusals, not as a failure.
 */
export async function enrolPhotos(client: ApiClient, identity: string, photos: PhotoFile[], model?: string): Promise<EnrolmentResponse['results']> {
  const api = new EdgeloopApi(client);
  const results: EnrolmentResponse['results'] = [];
  for (let i = 0; i < photos.length; i += MAX_ENROLMENT_PHOTOS) {
    const form = new FormData();
    for (const photo of photos.slice(i, i + MAX_ENROLMENT_PHOTOS)) form.append('photos', new Blob([new Uint8Array(photo.bytes)]), photo.name);
    try {
      results.push(...(await api.enrolPhotos(identity, form, model)).results);
    } catch (err) {
      // every photo refused: the 422's details are the per-photo results
      if (err instanceof ApiError && err.code === 'photo_refused') results.push(...RefusedResultsSchema.parse(err.details));
      else throw err;
    }
  }
  return results;
}

const RefusedResultsSchema = z.array(EnrolmentResultSchema);

/** The identity named `name`, created when it does not exist yet. */
export async function ensureIdentity(client: ApiClient, name: string, displayName?: string): Promise<Identity> {
  const api = new EdgeloopApi(client);
  try {
    return await api.identity(name);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
    return api.createIdentity(name, displayName);
  }
}

function client(timeoutMs?: number): ApiClient {
  const login = loadLogin();
  return new ApiClient({ baseUrl: login.url, token: login.token, ...(timeoutMs ? { timeoutMs } : {}) });
}

function api(): EdgeloopApi {
  return new EdgeloopApi(client());
}

/** `edgeloop identities add|ls|show|enrol|rename|merge|rm`: the gallery of people the heads are trained on. */
export function registerIdentities(program: Command): void {
  const identities = program.command('identities').description('people and their enrolment photos');

  identities
    .command('add')
    .description('create an identity (its name is the label a head outputs)')
    .argument('<name>')
    .option('--display-name <text>')
    .action(async (name: string, options: { displayName?: string }) => {
      const identity = await api().createIdentity(name, options.displayName);
      say(`${identity.name}\t${identity.id}`);
    });

  identities
    .command('ls')
    .description('list identities with their number of enrolment photos')
    .option('--json')
    .action(async (options: { json?: boolean }) => {
      const list = await api().identities();
      if (options.json) return printJson(list);
      if (list.length === 0) say('no identities yet');
      for (const i of list) say(`${i.name}\t${i.photos} photo${i.photos === 1 ? '' : 's'}\t${i.displayName ?? ''}\t${i.id}`);
    });

  identities
    .command('show')
    .argument('<identity>', 'name or id')
    .action(async (identity: string) => printJson(await api().identity(identity)));

  identities
    .command('enrol')
    .description('enrol photos of one person (each must show exactly one face)')
    .argument('<identity>', 'name or id')
    .argument('<photos...>', 'image files')
    .option('--model <ref>', 'whose embedder, e.g. face-id@production (the cloud default)')
    .option('--create', 'create the identity when it does not exist')
    .action(async (identity: string, files: string[], options: { model?: string; create?: boolean }) => {
      const enrolling = client(ENROL_TIMEOUT_MS);
      if (options.create) await ensureIdentity(enrolling, identity);
      const photos = await Promise.all(files.map(async (file) => ({ name: basename(file), bytes: await readFile(file) })));
      const results = await enrolPhotos(enrolling, identity, photos, options.model);
      for (const r of results) {
        if (r.status === 'enrolled') say(`enrolled\t${r.file}\t${r.photo.id}`);
        else warn(`refused\t${r.file}\t${r.error}: ${r.message}`);
      }
      const enrolled = results.filter((r) => r.status === 'enrolled').length;
      say(`${enrolled} of ${results.length} photos enrolled`);
      if (enrolled === 0) process.exitCode = 1;
    });

  identities
    .command('rename')
    .argument('<identity>', 'name or id')
    .argument('<new-name>')
    .action(async (identity: string, name: string) => {
      const updated = await api().updateIdentity(identity, { name });
      say(`${identity} is now ${updated.name}`);
    });

  identities
    .command('merge')
    .description('move the photos and labels of <from> into <into>, then delete <from>')
    .argument('<into>', 'name or id')
    .argument('<from>', 'name or id')
    .action(async (into: string, from: string) => {
      const merged = await api().mergeIdentity(into, from);
      say(`${from} merged into ${merged.name} (${merged.photos} photos)`);
    });

  identities
    .command('rm')
    .description('delete an identity and its photos; hard examples labelled with it go back to the queue')
    .argument('<identity>', 'name or id')
    .action(async (identity: string) => {
      await api().deleteIdentity(identity);
      say(`${identity} deleted`);
    });
}
