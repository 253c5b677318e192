/**
 * Canonical JSON for signatures: object keys sorted by UTF-16 code units, no whitespace, numbers
 * and strings written as JSON.stringify writes them (the RFC 8785 / JCS rules for the values
 * edgeloop signs). The same value always gives the same string, whatever its key order.
 *
 * Stricter than JSON.stringify, so a signature never covers something that would not round-trip:
 * non-finite numbers, bigint, functions, symbols, `undefined` in arrays, cycles and non-plain
 * objects (Map, Set, class instances without toJSON) throw a CanonicalJsonError naming the path.
 * Object properties whose value is `undefined` are left out, as JSON.stringify does.
 */
export class CanonicalJsonError extends TypeError {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`cannot write canonical JSON at ${path}: ${reason}`);
    this.name = 'CanonicalJsonError';
  }
}

export function canonicalJson(value: unknown): string {
  return write(value, '$', new Set());
}

function write(value: unknown, path: string, ancestors: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(path, `${value} is not a finite number`);
      return JSON.stringify(value);
    case 'object':
      return writeObject(value, path, ancestors);
    default:
      throw new CanonicalJsonError(path, `a ${typeof value} has no JSON form`);
  }
}

function writeObject(value: object, path: string, ancestors: Set<object>): string {
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return write(toJSON.call(value), path, ancestors);
  if (ancestors.has(value)) throw new CanonicalJsonError(path, 'the value contains a cycle');
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      const items: string[] = [];
      for (let i = 0; i < value.length; i += 1) {
        const item: unknown = value[i];
        if (item === undefined) throw new CanonicalJsonError(`${path}[${i}]`, 'undefined (or a hole) in an array');
        items.push(write(item, `${path}[${i}]`, ancestors));
      }
      return `[${items.join(',')}]`;
    }
    // a plain object of any realm: its prototype is an Object.prototype (whose own prototype is null) or null. A value
    // a worker thread sent (structured clone) belongs to the realm it arrived in, which under a test runner's
    // sandbox is not this module's
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== null && Object.getPrototypeOf(proto) !== null) {
      throw new CanonicalJsonError(path, `a ${value.constructor?.name ?? 'non-plain'} object has no canonical JSON form`);
    }
    const record = value as Record<string, unknown>;
    const members: string[] = [];
    for (const key of Object.keys(record).sort()) {
      const member = record[key];
      if (member === undefined) continue;
      members.push(`${JSON.stringify(key)}:${write(member, `${path}.${key}`, ancestors)}`);
    }
    return `{${members.join(',')}}`;
  } finally {
    ancestors.delete(value);
  }
}
