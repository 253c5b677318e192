import type { z } from 'zod';
import { parseWith } from '../parse';

/** Asserts the schema refuses `value` and that the message names `path`; returns the message. */
export function expectInvalid(schema: z.ZodType, value: unknown, path: string): string {
  const result = parseWith(schema, value);
  if (result.ok) throw new Error(`expected the value to be refused at ${path}, but it parsed`);
  expect(result.error.message).toContain(`${path}:`);
  expect(result.error.details.map((d) => d.path)).toContain(path);
  return result.error.message;
}

export function expectValid<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = parseWith(schema, value);
  if (!result.ok) throw new Error(`expected the value to parse, got: ${result.error.message}`);
  return result.value;
}
