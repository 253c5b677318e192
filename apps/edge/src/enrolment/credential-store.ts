import { DeviceIdSchema, EnrolDeviceResponseSchema, type EnrolDeviceResponse } from '@edgeloop/contracts';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';

/** What an enrolled device keeps: its answer from the cloud and when it enrolled. Nothing else. */
export const StoredEnrolmentSchema = z.object({
  schema: z.literal('edgeloop.enrolment/v1'),
  enrolledAt: z.string(),
  cloudUrl: z.string(),
  deviceId: DeviceIdSchema,
  mqttUrl: z.string(),
  credentials: EnrolDeviceResponseSchema.shape.credentials,
  signingKey: EnrolDeviceResponseSchema.shape.signingKey,
});
export type StoredEnrolment = z.infer<typeof StoredEnrolmentSchema>;

/** `<state dir>/enrolment/credentials.json`: the device's own credentials, readable by its user only. */
export function credentialsFile(stateDir: string): string {
  return join(stateDir, 'enrolment', 'credentials.json');
}

/** The stored enrolment, undefined when the device has not enrolled; a damaged file is an error, not a re-enrolment. */
export function readEnrolment(file: string): StoredEnrolment | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = StoredEnrolmentSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${file} is not a valid enrolment record (${parsed.error.issues[0]?.message}); restore it or remove it to enrol again`);
  return parsed.data;
}

/** Writes the enrolment atomically (temp file, fsync, rename, fsync of the folder), mode 0600 in a 0700 folder. */
export function writeEnrolment(file: string, answer: EnrolDeviceResponse, cloudUrl: string): StoredEnrolment {
  const record: StoredEnrolment = {
    schema: 'edgeloop.enrolment/v1',
    enrolledAt: new Date().toISOString(),
    cloudUrl,
    deviceId: answer.device.id,
    mqttUrl: answer.mqttUrl,
    credentials: answer.credentials,
    signingKey: answer.signingKey,
  };
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(record, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
  return record;
}
