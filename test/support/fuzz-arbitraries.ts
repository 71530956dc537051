import fc from 'fast-check';

/**
 * Hostile-input generators for the HTTP fuzz (test/e2e/fuzz.e2e.test.ts). Bodies are built as JSON
 * *text*, so they can hold what JSON.stringify cannot write: numbers such as 1e400 or -0 or 30
 * digits, `__proto__` keys, duplicate keys, thousands of nesting levels, lone surrogate escapes.
 */

/** A JSON fragment written as is. */
export class RawJson {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text.length > 80
      ? `RawJson(${this.text.slice(0, 60)}… ${this.text.length} chars)`
      : this.text;
  }
}

/** JSON text of a value that may contain RawJson fragments and own `__proto__` keys. */
export function jsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map(jsonText).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    return `{${Object.keys(record)
      .map((key) => `${JSON.stringify(key)}:${jsonText(record[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Keys that reach Object.prototype when code copies objects naively. */
export const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

/** Properties a successful pollution would add to every object; checked in the test process. */
export const POLLUTION_MARKERS = ['fuzzPolluted', 'isAdmin', 'scope', 'tenant_id', 'polluted'] as const;

const POLLUTING_VALUES: unknown[] = [
  { fuzzPolluted: 'yes', isAdmin: true },
  { polluted: 'yes', scope: 'billing:customers:create', tenant_id: null },
  { prototype: { fuzzPolluted: 'yes' } },
  { constructor: { prototype: { fuzzPolluted: 'yes' } } },
  JSON.parse('{"__proto__":{"fuzzPolluted":"deep"}}'),
  'polluted',
  ['polluted'],
  null,
];

// ---- scalar values --------------------------------------------------------------------------

export const boundaryNumber: fc.Arbitrary<unknown> = fc.constantFrom<unknown>(
  0,
  -1,
  1,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 53 - 1,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  2 ** 63,
  1e21,
  1e308,
  -1e308,
  Number.MIN_VALUE,
  0.1,
  0.5,
  10.5,
  0.1 + 0.2,
  1e-7,
  999999999999999,
  new RawJson('9999999999999999'),
  new RawJson('-0'),
  new RawJson('-0.0'),
  new RawJson('1e400'),
  new RawJson('-1e400'),
  new RawJson('1e-400'),
  new RawJson('123456789012345678901234567890'),
  new RawJson('-123456789012345678901234567890'),
  new RawJson('1.0'),
  new RawJson('1E2'),
  new RawJson('100.000000000000000000001'),
  new RawJson('0.00000000000000000000000000001'),
  new RawJson('3.14159265358979323846264338327950288419716939937510'),
);

export const trickyString: fc.Arbitrary<string> = fc.constantFrom(
  '',
  ' ',
  '\t\n',
  'NaN',
  'Infinity',
  '-Infinity',
  '-0',
  '0',
  '-1',
  '1e308',
  '1e400',
  '0x10',
  '1.5',
  '+5',
  '00012',
  '1,000',
  '١٢٣',
  '12345678901234567890.1234567890123',
  '0.0000000000001',
  '0.0000001',
  'null',
  'undefined',
  'true',
  '[]',
  '{}',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  "'; DROP TABLE billing; --",
  '<script>alert(1)</script>',
  '$' + '{7*7}',
  '../../etc/passwd',
  '%00',
  '\u0000',
  'a\u0000b',
  '\u202e',
  '\ufeff',
  '\uffff',
  '😀'.repeat(70),
  'a'.repeat(65),
  'a'.repeat(257),
  'a'.repeat(1025),
  'ＵＳＤ',
  'usd',
  'UsD',
  'XXX',
  'A#B',
  'CUSTOMER#x',
  'PROFILE',
  'TYPE#customer',
  '2024-02-30T00:00:00Z',
  '2024-01-01T00:00:00+25:00',
  '9999-12-31T23:59:59.999Z',
  '0000-01-01T00:00:00Z',
  'tomorrow',
  'billing@acme.example',
  'a@b',
  '"@example.com',
);

/** Strings that are not well-formed Unicode: JSON can carry them as escapes. */
export const loneSurrogate: fc.Arbitrary<RawJson> = fc.constantFrom(
  new RawJson('"\\ud800"'),
  new RawJson('"\\udfff"'),
  new RawJson('"a\\ud83d"'),
  new RawJson('"\\ude00b"'),
  new RawJson('"\\udc00\\ud800"'),
);

export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: boundaryNumber, weight: 6 },
  { arbitrary: trickyString, weight: 6 },
  { arbitrary: fc.integer(), weight: 1 },
  { arbitrary: fc.double(), weight: 1 },
  { arbitrary: fc.boolean(), weight: 1 },
  { arbitrary: fc.constant(null), weight: 1 },
  { arbitrary: fc.string({ maxLength: 80, unit: 'binary' }), weight: 2 },
  { arbitrary: loneSurrogate, weight: 1 },
  { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 2 },
  { arbitrary: fc.constantFrom<unknown>([], {}, [null], [{}], { a: 1 }), weight: 1 },
);

// ---- structure ------------------------------------------------------------------------------

type Path = (string | number)[];

/** Every path to a value inside a JSON document (objects and arrays), the root excluded. */
export function pathsOf(value: unknown, prefix: Path = []): Path[] {
  if (Array.isArray(value)) {
    return value.flatMap((item, index) => [[...prefix, index], ...pathsOf(item, [...prefix, index])]);
  }
  if (value !== null && typeof value === 'object' && !(value instanceof RawJson)) {
    return Object.keys(value).flatMap((key) => [
      [...prefix, key],
      ...pathsOf((value as Record<string, unknown>)[key], [...prefix, key]),
    ]);
  }
  return [];
}

/** Paths to objects (where a field can be added), the root included. */
export function objectPathsOf(value: unknown): Path[] {
  const paths: Path[] = [];
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) paths.push([]);
  for (const path of pathsOf(value)) {
    const found = at(value, path);
    if (found !== null && typeof found === 'object' && !Array.isArray(found) && !(found instanceof RawJson)) {
      paths.push(path);
    }
  }
  return paths;
}

function at(value: unknown, path: Path): unknown {
  return path.reduce<unknown>((node, key) => (node as Record<string | number, unknown>)?.[key], value);
}

/** A deep copy that keeps RawJson fragments and own `__proto__` keys. */
export function clone<T>(value: T): T {
  if (value instanceof RawJson) return value;
  if (Array.isArray(value)) return value.map(clone) as T;
  if (value !== null && typeof value === 'object') {
    const copy = {};
    for (const key of Object.keys(value)) setOwn(copy, key, clone((value as Record<string, unknown>)[key]));
    return copy as T;
  }
  return value;
}

/** Sets an own enumerable property, even `__proto__` (which plain assignment would not create). */
export function setOwn(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

export type Mutation =
  | { op: 'drop'; pick: number }
  | { op: 'replace'; pick: number; value: unknown }
  | { op: 'wrap'; pick: number; asArray: boolean }
  | { op: 'add'; pick: number; key: string; value: unknown };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('drop' as const), pick: fc.nat() }),
  {
    arbitrary: fc.record({ op: fc.constant('replace' as const), pick: fc.nat(), value: hostileValue }),
    weight: 4,
  },
  fc.record({ op: fc.constant('wrap' as const), pick: fc.nat(), asArray: fc.boolean() }),
  fc.record({
    op: fc.constant('add' as const),
    pick: fc.nat(),
    key: fc.oneof(
      fc.constantFrom<string>(
        ...PROTOTYPE_KEYS,
        'id',
        'version',
        'status',
        'tenant_id',
        'PK',
        'created_at',
        '',
      ),
      fc.string({ maxLength: 20 }),
    ),
    value: fc.oneof(hostileValue, fc.constantFrom(...POLLUTING_VALUES)),
  }),
);

/** Applies mutations to a copy of `body`; a mutation with nothing to act on is skipped. */
export function mutate(body: unknown, mutations: readonly Mutation[]): unknown {
  let root: unknown = clone(body);
  for (const m of mutations) {
    if (m.op === 'add') {
      const targets = objectPathsOf(root);
      if (targets.length === 0) continue;
      const path = targets[m.pick % targets.length]!;
      setOwn(at(root, path) as object, m.key, clone(m.value));
      continue;
    }
    const paths = pathsOf(root);
    if (paths.length === 0) {
      if (m.op === 'replace') root = clone(m.value);
      continue;
    }
    const path = paths[m.pick % paths.length]!;
    const parent = at(root, path.slice(0, -1)) as Record<string | number, unknown>;
    const key = path[path.length - 1]!;
    if (m.op === 'drop') {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
    } else if (m.op === 'replace') {
      setOwn(parent, String(key), clone(m.value));
    } else {
      const current = parent[key];
      setOwn(parent, String(key), m.asArray ? [current] : { value: current });
    }
  }
  return root;
}

/** Replaces the value at a path of the body (picked by index) with a fragment; the whole body if none. */
export function replaceAt(body: unknown, pick: number, fragment: unknown): unknown {
  const root = clone(body);
  const paths = pathsOf(root);
  if (paths.length === 0) return fragment;
  const path = paths[pick % paths.length]!;
  setOwn(at(root, path.slice(0, -1)) as object, String(path[path.length - 1]), fragment);
  return root;
}

// ---- big and deep ---------------------------------------------------------------------------

export const hugeString: fc.Arbitrary<RawJson> = fc
  .record({
    length: fc.integer({ min: 100_000, max: 250_000 }),
    unit: fc.constantFrom('a', '€', '😀', '\\u0000', '\\"', '\\ud800', ' '),
  })
  .map(({ length, unit }) => {
    const count = Math.ceil(length / unit.length);
    return new RawJson(`"${unit.repeat(count)}"`);
  });

export const hugeArray: fc.Arbitrary<RawJson> = fc
  .record({
    length: fc.integer({ min: 10_000, max: 40_000 }),
    element: fc.constantFrom('0', '""', 'null', '{}', '[]', '1e308', '"x"'),
  })
  .map(({ length, element }) => new RawJson(`[${new Array(length).fill(element).join(',')}]`));

export const deepNesting: fc.Arbitrary<RawJson> = fc
  .record({
    depth: fc.integer({ min: 1000, max: 12_000 }),
    kind: fc.constantFrom('array', 'object', 'mixed', 'unclosed'),
  })
  .map(({ depth, kind }) => {
    if (kind === 'array') return new RawJson(`${'['.repeat(depth)}${']'.repeat(depth)}`);
    if (kind === 'object') return new RawJson(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
    if (kind === 'mixed') return new RawJson(`${'{"a":['.repeat(depth)}${']}'.repeat(depth)}`);
    return new RawJson('['.repeat(depth));
  });

// ---- bytes ----------------------------------------------------------------------------------

/** Byte sequences that are not UTF-8: stray continuation, overlong forms, surrogates, truncations. */
export const INVALID_UTF8: readonly number[][] = [
  [0xff],
  [0xfe],
  [0xff, 0xfe],
  [0x80],
  [0xbf],
  [0xc0, 0xaf],
  [0xc1, 0xbf],
  [0xe0, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf5, 0x80, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
  [0xc3],
];

/** The valid JSON text with invalid bytes put inside a string, between tokens, or instead of it. */
export function invalidUtf8Body(
  text: string,
  choice: { bytes: number; position: number; where: 'string' | 'anywhere' | 'alone' | 'prefix' },
): Buffer {
  const bad = Buffer.from(INVALID_UTF8[choice.bytes % INVALID_UTF8.length]!);
  const raw = Buffer.from(text, 'utf8');
  if (choice.where === 'alone') return Buffer.concat([Buffer.from('{"'), bad, Buffer.from('":1}')]);
  if (choice.where === 'prefix') return Buffer.concat([bad, raw]);
  let offset = choice.position % (raw.length + 1);
  if (choice.where === 'string') {
    // Right after the opening quote of a string value (or key), so the JSON stays well-formed.
    const quotes = [...text.matchAll(/"/g)].map((m) => Buffer.byteLength(text.slice(0, m.index! + 1)));
    if (quotes.length > 0) offset = quotes[choice.position % quotes.length]!;
  }
  return Buffer.concat([raw.subarray(0, offset), bad, raw.subarray(offset)]);
}

export const invalidUtf8Choice = fc.record({
  bytes: fc.nat(),
  position: fc.nat(),
  where: fc.constantFrom(
    'string' as const,
    'string' as const,
    'anywhere' as const,
    'alone' as const,
    'prefix' as const,
  ),
});

// ---- whole bodies that are not what a route takes -------------------------------------------

/** Content types the JSON routes must refuse with 415 when a body is sent. */
export const NON_JSON_CONTENT_TYPES = [
  'text/plain',
  'text/json',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/octet-stream',
  'application/jsonx',
  'application/json-patch',
  'json',
  'image/png',
  '*/*',
  '',
] as const;

/** Content types that are JSON by the rules (RFC 6839 suffixes, parameters, any case). */
export const JSON_LIKE_CONTENT_TYPES = [
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/merge-patch+json',
  'application/vnd.api+json; charset=iso-8859-1',
  'application/json;charset=utf-16',
] as const;

export const scalarOrEmptyBody = fc.constantFrom(
  '',
  ' ',
  '\n',
  'null',
  '[]',
  '[{}]',
  '"x"',
  '0',
  '-0',
  '1e400',
  'true',
  '""',
  '{}',
  '\ufeff{}',
);

export const malformedJson = fc.oneof(
  fc.constantFrom(
    '{',
    '}',
    '{"a":}',
    '{"a":1,}',
    "{'a':1}",
    '{"a":NaN}',
    '{"a":Infinity}',
    '{"a":undefined}',
    '{a:1}',
    '{"a":1} {"b":2}',
    '{"a":1}//',
    '/* */{}',
    '{"a":"\\x41"}',
    '{"a":"\\u12"}',
    '{"a":"line\nbreak"}',
    '{"a":01}',
    '{"a":.5}',
    '{"a":1.}',
    '{"a":+1}',
    '{"a":--1}',
    '\u0000',
    'nul',
    '[1,2',
  ),
  fc.string({ minLength: 1, maxLength: 60 }).filter((text) => {
    try {
      JSON.parse(text);
      return false;
    } catch {
      return true;
    }
  }),
);

/** A body naming prototype keys, as raw JSON text (JSON.parse makes them own keys). */
export const prototypeKeyBody = (valid: unknown) =>
  fc
    .record({
      key: fc.constantFrom(...PROTOTYPE_KEYS),
      value: fc.constantFrom(...POLLUTING_VALUES),
      pick: fc.nat(),
      /** Put the valid fields only under the prototype key, so a handler reading inherited fields would see them. */
      hideFields: fc.boolean(),
    })
    .map(({ key, value, pick, hideFields }) => {
      if (hideFields) {
        const body = {};
        setOwn(body, key, clone(valid));
        return body;
      }
      const body = clone(valid);
      const targets = objectPathsOf(body);
      if (targets.length === 0) return body;
      setOwn(at(body, targets[pick % targets.length]!) as object, key, clone(value));
      return body;
    });

// ---- path and query -------------------------------------------------------------------------

const encode = (text: string) => {
  try {
    return encodeURIComponent(text);
  } catch {
    return 'lone%ED%A0%80surrogate';
  }
};

/** A path segment as it goes on the request line: traversal, NUL, malformed escapes, long, unicode. */
export const hostilePathSegment: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '..',
      '.',
      '%2e%2e',
      '%2E%2E%2F',
      '..%2F..%2F',
      '%00',
      'a%00b',
      '%',
      '%zz',
      '%E0%A4%A',
      '%ED%A0%80',
      '%C0%AF',
      '%FF',
      '%2F',
      'a%2Fb',
      '%23',
      'x%23PROFILE',
      '%20',
      '+',
      '*',
      '~',
      '%7B%7D',
      '__proto__',
      'constructor',
      'prototype',
      'null',
      'undefined',
      '0',
      '-1',
      '%E2%80%AE',
      '%F0%9F%98%80',
      '\u00ff\u00fe',
      ';',
      '%3B',
      'a?b=c',
      '%3F',
      '%5C',
    ),
  },
  { weight: 2, arbitrary: fc.integer({ min: 65, max: 4000 }).map((n) => 'a'.repeat(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 17, max: 300 }).map((n) => '%F0%9F%98%80'.repeat(n)) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 70 }).map(encode) },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 70 }).map(encode) },
);

export const hostileLimit = fc.oneof(
  fc.constantFrom(
    '-1',
    '0',
    '1',
    '100',
    '101',
    '1e9',
    '1e2',
    '1e400',
    '1.5',
    '-0',
    '0x10',
    '0b1',
    ' 5',
    '',
    'abc',
    'NaN',
    'Infinity',
    '99999999999999999999999',
    '20,20',
    '%',
    '%zz',
    '%00',
    '٣',
  ),
  fc.integer().map(String),
);

const base64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

/** Cursors that were never issued: garbage, other JSON, and edits of a real one. */
export const hostileCursor = (realCursor: string | undefined) => {
  const real = (() => {
    if (!realCursor) return undefined;
    try {
      return JSON.parse(Buffer.from(realCursor, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  })();
  const edits: fc.Arbitrary<string>[] = [
    fc.string({ maxLength: 60 }),
    fc.constantFrom('', '=', '%', '%zz', 'null', 'e30', 'W10', 'bnVsbA', 'a'.repeat(2048), 'a'.repeat(2049)),
    fc.jsonValue({ maxDepth: 2 }).map((value) => base64url(JSON.stringify(value))),
  ];
  if (real) {
    const keys = Object.keys(real);
    edits.push(
      fc
        .record({
          drop: fc.subarray(keys),
          change: fc.subarray(keys),
          value: fc.oneof(
            fc.constantFrom<unknown>('', 'x', 'a'.repeat(1500), 'a'.repeat(1100), 0, null, {}, ['x'], true),
            trickyString,
          ),
          extra: fc.option(
            fc.constantFrom('PK', 'SK', 'GSI1PK', 'GSI1SK', 'GSI2PK', 'GSI2SK', 'x', '__proto__'),
          ),
        })
        .map(({ drop, change, value, extra }) => {
          const edited = clone(real);
          for (const key of change) setOwn(edited, key, value);
          for (const key of drop) delete edited[key];
          if (extra) setOwn(edited, extra, 'x');
          return base64url(jsonText(edited));
        }),
    );
  }
  return fc.oneof(...edits);
};
