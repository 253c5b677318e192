import { MAX_ENROLMENT_PHOTO_BYTES, MAX_ENROLMENT_PHOTOS, MAX_ENROLMENT_REQUEST_BYTES } from '@edgeloop/contracts';
import busboy from 'busboy';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { BadRequestError, DomainError } from '../errors/domain.errors';

/** One photo of an enrolment request, in memory (photos are bounded by MAX_ENROLMENT_PHOTO_BYTES). */
export interface UploadedPhoto {
  fileName: string;
  bytes: Buffer;
}

/**
 * Reads the photos of a multipart enrolment request: any number of file parts (named `photo` or
 * `photos`) up to MAX_ENROLMENT_PHOTOS, each up to MAX_ENROLMENT_PHOTO_BYTES and MAX_ENROLMENT_REQUEST_BYTES
 * together. A part over a limit is a 413 naming it (its bytes are dropped, not kept); nothing is stored for
 * a request refused here.
 */
export function readPhotoUpload(req: IncomingMessage): Promise<UploadedPhoto[]> {
  return new Promise((resolve, reject) => {
    if (!/^multipart\/form-data/i.test(req.headers['content-type'] ?? '')) {
      req.resume();
      reject(new BadRequestError('not_multipart', 'send the photos as multipart/form-data, one file part per photo (field "photos")'));
      return;
    }
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        limits: { fileSize: MAX_ENROLMENT_PHOTO_BYTES, files: MAX_ENROLMENT_PHOTOS, fields: 4, parts: MAX_ENROLMENT_PHOTOS + 4 },
      });
    } catch (err) {
      req.resume();
      reject(new BadRequestError('not_multipart', `the multipart body cannot be read: ${(err as Error).message}`));
      return;
    }
    let failure: Error | undefined;
    const fail = (err: Error) => (failure ??= err);
    const photos: UploadedPhoto[] = [];
    const reading: Promise<void>[] = [];
    let total = 0;
    parser.on('file', (field: string, stream: Readable, info: busboy.FileInfo) => {
      const fileName = (info.filename ?? `photo-${photos.length + 1}`).slice(0, 255);
      if (field !== 'photos' && field !== 'photo') {
        fail(new BadRequestError('unknown_field', `unknown file field "${field}"; send each photo in a part named "photos"`));
        stream.resume();
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > MAX_ENROLMENT_REQUEST_BYTES) {
          if (!failure)
            fail(
              new DomainError(
                413,
                'payload_too_large',
                `the photos are over ${MAX_ENROLMENT_REQUEST_BYTES} bytes together (at "${fileName}"); send fewer per request`,
                [{ file: fileName }],
              ),
            );
          chunks.length = 0;
          return;
        }
        if (!failure) chunks.push(chunk);
      });
      stream.on('limit', () =>
        fail(new DomainError(413, 'payload_too_large', `photo "${fileName}" is over the limit of ${MAX_ENROLMENT_PHOTO_BYTES} bytes`, [{ file: fileName }])),
      );
      reading.push(
        new Promise<void>((done) => {
          stream.on('end', () => {
            photos.push({ fileName, bytes: Buffer.concat(chunks) });
            done();
          });
          stream.on('error', (err) => {
            fail(err);
            done();
          });
        }),
      );
    });
    parser.on('field', (field: string) => fail(new BadRequestError('unknown_field', `unknown form field "${field}"; send only photo files`)));
    parser.on('filesLimit', () => fail(new BadRequestError('too_many_files', `at most ${MAX_ENROLMENT_PHOTOS} photos per request`)));
    parser.on('partsLimit', () => fail(new BadRequestError('too_many_files', `at most ${MAX_ENROLMENT_PHOTOS} photos per request`)));
    parser.on('fieldsLimit', () => fail(new BadRequestError('too_many_fields', 'too many form fields')));
    parser.on('error', (err: Error) => fail(new BadRequestError('malformed_multipart', `the multipart body is malformed: ${err.message}`)));
    parser.on('close', () => {
      void Promise.all(reading).then(() => {
        if (failure) reject(failure);
        else if (photos.length === 0) reject(new BadRequestError('missing_file', 'no photo in the request; send one file part per photo (field "photos")'));
        else resolve(photos);
      });
    });
    req.pipe(parser);
  });
}
