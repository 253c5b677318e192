import {
  DeviceLabelsSchema,
  formatModelRef,
  isValidDeviceId,
  isValidModelName,
  MODEL_NAME_PATTERN,
  ModelReferenceSchema,
  parseLabelSelector,
  parseModelRef,
} from './identifiers';
import { expectInvalid } from './testing/expect-invalid';

describe('identifiers', () => {
  it.each(['cam-01', 'A', 'edge_7', 'x'.repeat(64)])('accepts device id %s', (id) => {
    expect(isValidDeviceId(id)).toBe(true);
  });

  it.each(['', '-cam', 'cam/1', 'cam+', 'cam#', '$SYS', 'cam 1', 'cam.1', 'x'.repeat(65), 'ça'])('refuses device id %j', (id) => {
    expect(isValidDeviceId(id)).toBe(false);
  });

  it('applies the model name rule', () => {
    expect(['face-id', 'face_id.v2', '0base'].every(isValidModelName)).toBe(true);
    expect(['Face', '-x', '.x', '', 'a'.repeat(65), 'a/b', 'a@b'].some(isValidModelName)).toBe(false);
    expect(MODEL_NAME_PATTERN.test('a'.repeat(64))).toBe(true);
  });

  it('parses version and alias references and formats them back', () => {
    expect(parseModelRef('face-id@7')).toEqual({ kind: 'version', name: 'face-id', version: 7 });
    expect(parseModelRef('face-id@production')).toEqual({ kind: 'alias', name: 'face-id', alias: 'production' });
    expect(formatModelRef(parseModelRef('face-id@7')!)).toBe('face-id@7');
    expect(formatModelRef({ name: 'face-id', version: 3 })).toBe('face-id@3');
  });

  it.each(['face-id', '@7', 'face-id@', 'face-id@0', 'face-id@07', 'face-id@-1', 'Face@7', 'face-id@7x', 'face-id@Prod', 'face-id@99999999999999999'])(
    'refuses reference %j',
    (text) => {
      expect(parseModelRef(text)).toBeNull();
    },
  );

  it('explains a bad reference in a DTO', () => {
    const message = expectInvalid(ModelReferenceSchema, 'face-id', '(root)');
    expect(message).toContain('name@version');
  });

  it('parses label selectors', () => {
    expect(parseLabelSelector('site=lab, floor=2')).toEqual({ site: 'lab', floor: '2' });
    expect(parseLabelSelector('site')).toBeNull();
    expect(parseLabelSelector('site=a,site=b')).toBeNull();
    expect(parseLabelSelector('Site=a')).toBeNull();
  });

  it('names a bad label key', () => {
    const message = expectInvalid(DeviceLabelsSchema, { 'Bad Key': 'x' }, 'Bad Key');
    expect(message).toContain('label key');
  });
});
