/**
 * The JavaScript evaluator of `queryAsJson` (query.ts) against the SQLite translation it replaced, kept
 * here as an oracle: random metas and random queries, and both must pick the same rooms. SQLite's JSON
 * functions define the semantics the listing had; the evaluator must not change them.
 */
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileQuery, compareCodePoints, QUERY_MAX_CONDITIONS, QUERY_MAX_DEPTH, QUERY_MAX_PATH_SEGMENTS } from './query.ts';

const SEGMENT = /^[A-Za-z0-9_-]{1,64}$/;

// ---- the SQL translation, as it served listings before the evaluator (parameterised json_extract)

type Literal = string | number | boolean | null;

const OPERATORS_SQL = ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists', '$startsWith', '$endsWith', '$contains'] as const;
type Operator = (typeof OPERATORS_SQL)[number];

function invalid(message: string): Error {
  return new Error(`queryAsJson: ${message}`);
}

function isLiteral(value: unknown): value is Literal {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class Compiler {
  readonly params: Array<string | number | null> = [];
  private conditions = 0;

  constructor(private readonly column: string) {}

  private param(value: string | number | null): string {
    this.params.push(value);
    return `@q${this.params.length - 1}`;
  }

  private count(): void {
    if (++this.conditions > QUERY_MAX_CONDITIONS) throw invalid(`more than ${QUERY_MAX_CONDITIONS} conditions`);
  }

  query(value: unknown, depth: number): string {
    if (depth > QUERY_MAX_DEPTH) throw invalid(`nested deeper than ${QUERY_MAX_DEPTH} levels`);
    if (!isPlainObject(value)) throw invalid('expected a JSON object');
    const parts: string[] = [];
    for (const [key, operand] of Object.entries(value)) {
      if (key === '$and' || key === '$or' || key === '$nor') {
        if (!Array.isArray(operand) || operand.length === 0) throw invalid(`${key} expects a non-empty array of queries`);
        const subs = operand.map((q) => `(${this.query(q, depth + 1)})`);
        const joined = subs.join(key === '$and' ? ' AND ' : ' OR ');
        parts.push(key === '$nor' ? `NOT (${joined})` : `(${joined})`);
      } else if (key.startsWith('$')) {
        throw invalid(`unknown top-level operator ${key}`);
      } else {
        parts.push(this.field(key, operand));
      }
    }
    return parts.length === 0 ? '1' : parts.join(' AND ');
  }

  private path(field: string): string {
    const segments = field.split('.');
    if (segments.length > QUERY_MAX_PATH_SEGMENTS || !segments.every((s) => SEGMENT.test(s))) {
      throw invalid(`field "${field.slice(0, 80)}" must be up to ${QUERY_MAX_PATH_SEGMENTS} dot-separated names of [A-Za-z0-9_-]`);
    }
    return this.param(`$${segments.map((s) => `."${s}"`).join('')}`);
  }

  private field(field: string, operand: unknown): string {
    const path = this.path(field);
    if (isLiteral(operand)) return `COALESCE(${this.op(field, path, '$eq', operand)}, 0)`;
    if (!isPlainObject(operand) || Object.keys(operand).length === 0) {
      throw invalid(`field "${field}" expects a literal or an object of operators`);
    }
    return Object.entries(operand)
      .map(([op, value]) => {
        if (!(OPERATORS_SQL as readonly string[]).includes(op)) throw invalid(`unknown operator ${op.slice(0, 40)} on "${field}"`);
        // SQL is three-valued: over a missing field json_type() is NULL, and NOT (NULL OR ...) stays
        // NULL, which would drop rows from $ne, $nin and $nor. Every condition is made true or false.
        return `COALESCE(${this.op(field, path, op as Operator, value)}, 0)`;
      })
      .join(' AND ');
  }

  private typeOf(path: string): string {
    return `json_type(${this.column}, ${path})`;
  }

  private valueOf(path: string): string {
    return `json_extract(${this.column}, ${path})`;
  }

  private eq(path: string, value: Literal): string {
    const type = this.typeOf(path);
    if (value === null) return `${type} = 'null'`;
    if (typeof value === 'boolean') return `${type} = '${value ? 'true' : 'false'}'`;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw invalid('numbers must be finite');
      return `(${type} IN ('integer', 'real') AND ${this.valueOf(path)} = ${this.param(value)})`;
    }
    return `(${type} = 'text' AND ${this.valueOf(path)} = ${this.param(value)})`;
  }

  private op(field: string, path: string, op: Operator, value: unknown): string {
    this.count();
    const type = this.typeOf(path);
    const v = this.valueOf(path);
    switch (op) {
      case '$eq':
      case '$ne': {
        if (!isLiteral(value)) throw invalid(`${op} on "${field}" expects a string, number, boolean or null`);
        const eq = this.eq(path, value);
        return op === '$eq' ? eq : `NOT COALESCE(${eq}, 0)`;
      }
      case '$gt':
      case '$gte':
      case '$lt':
      case '$lte': {
        const sql = { $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' }[op];
        if (typeof value === 'number' && Number.isFinite(value)) {
          return `(${type} IN ('integer', 'real') AND ${v} ${sql} ${this.param(value)})`;
        }
        if (typeof value === 'string') return `(${type} = 'text' AND ${v} ${sql} ${this.param(value)})`;
        throw invalid(`${op} on "${field}" expects a number or a string`);
      }
      case '$in':
      case '$nin': {
        if (!Array.isArray(value) || value.length === 0 || value.length > QUERY_MAX_CONDITIONS || !value.every(isLiteral)) {
          throw invalid(`${op} on "${field}" expects a non-empty array of at most ${QUERY_MAX_CONDITIONS} literals`);
        }
        const any = `(${value.map((item) => this.eq(path, item)).join(' OR ')})`;
        return op === '$in' ? any : `NOT COALESCE(${any}, 0)`;
      }
      case '$exists':
        if (typeof value !== 'boolean') throw invalid(`$exists on "${field}" expects true or false`);
        return `${type} IS ${value ? 'NOT NULL' : 'NULL'}`;
      case '$startsWith':
      case '$endsWith': {
        if (typeof value !== 'string') throw invalid(`${op} on "${field}" expects a string`);
        if (value.length === 0) return `${type} = 'text'`;
        const p = this.param(value);
        const slice = op === '$startsWith' ? `substr(${v}, 1, length(${p}))` : `substr(${v}, -length(${p}))`;
        return `(${type} = 'text' AND ${slice} = ${p})`;
      }
      case '$contains': {
        if (!isLiteral(value)) throw invalid(`$contains on "${field}" expects a string, number, boolean or null`);
        const element =
          value === null
            ? `e.type = 'null'`
            : typeof value === 'boolean'
              ? `e.type = '${value ? 'true' : 'false'}'`
              : typeof value === 'number'
                ? `e.type IN ('integer', 'real') AND e.value = ${this.param(value)}`
                : `e.type = 'text' AND e.value = ${this.param(value)}`;
        const inArray = `(${type} = 'array' AND EXISTS (SELECT 1 FROM json_each(${this.column}, ${path}) e WHERE ${element}))`;
        if (typeof value !== 'string') return inArray;
        return `((${type} = 'text' AND instr(${v}, ${this.param(value)}) > 0) OR ${inArray})`;
      }
      default: {
        const never: never = op;
        throw invalid(`unknown operator ${String(never)}`);
      }
    }
  }
}

function compileSql(text: string): { sql: string; params: Array<string | number | null> } {
  const compiler = new Compiler('m.meta');
  const sql = compiler.query(JSON.parse(text), 1);
  return { sql, params: compiler.params };
}

// ---- random data and queries over a small vocabulary, so that conditions often hold

const keys = ['a', 'b', 'c'] as const;
const strings = ['', 'a', 'ab', 'b', '\u{1F600}', '\uFFFF', 'a\u{1F600}', '%'];
const literal = fc.oneof(fc.constantFrom(...strings), fc.constantFrom(0, 1, 2, 1.5), fc.boolean(), fc.constant(null));
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, { arbitrary: literal, weight: 4 }, fc.array(literal, { maxLength: 4 }), tie('o')),
  o: fc.dictionary(fc.constantFrom(...keys), tie('v'), { minKeys: 1, maxKeys: 3 }),
})).v;
const meta = fc.oneof({ arbitrary: fc.dictionary(fc.constantFrom(...keys), value, { minKeys: 1, maxKeys: 3 }), weight: 5 }, fc.constant(null));

const path = fc.oneof(
  { arbitrary: fc.constantFrom(...keys), weight: 3 },
  fc.tuple(fc.constantFrom(...keys), fc.constantFrom(...keys)).map(([x, y]) => `${x}.${y}`),
);
const condition: fc.Arbitrary<{ op: string; v: unknown }> = fc.oneof(
  fc.record({ op: fc.constantFrom('$eq', '$ne', '$contains'), v: literal }),
  fc.record({ op: fc.constantFrom('$gt', '$gte', '$lt', '$lte'), v: fc.oneof(fc.constantFrom(...strings), fc.constantFrom(0, 1, 2, 1.5, -1)) }),
  fc.record({ op: fc.constantFrom('$in', '$nin'), v: fc.array(literal, { minLength: 1, maxLength: 4 }) }),
  fc.record({ op: fc.constant('$exists'), v: fc.boolean() }),
  fc.record({ op: fc.constantFrom('$startsWith', '$endsWith'), v: fc.constantFrom(...strings) }),
);
const clause = fc.oneof(
  fc.tuple(path, literal).map(([p, v]) => ({ [p]: v })),
  fc.tuple(path, fc.array(condition, { minLength: 1, maxLength: 2 })).map(([p, cs]) => ({ [p]: Object.fromEntries(cs.map((c) => [c.op, c.v])) })),
);
const query: fc.Arbitrary<object> = fc.letrec((tie) => ({
  q: fc.oneof(
    { depthSize: 'small' },
    clause,
    fc.tuple(fc.constantFrom('$and', '$or', '$nor'), fc.array(tie('q'), { minLength: 1, maxLength: 3 })).map(([k, qs]) => ({ [k]: qs })),
    fc.tuple(clause, clause).map(([x, y]) => ({ ...x, ...y })),
    clause,
  ),
})).q;

let db: Database.Database;
beforeAll(() => {
  db = new Database(':memory:');
  db.exec('CREATE TABLE m (i INTEGER PRIMARY KEY, meta TEXT)');
});
afterAll(() => db.close());

function viaSql(metas: Array<string | null>, text: string): number[] {
  db.exec('DELETE FROM m');
  const insert = db.prepare('INSERT INTO m (i, meta) VALUES (?, ?)');
  for (const [i, m] of metas.entries()) insert.run(i, m);
  const { sql, params } = compileSql(text);
  const bound = Object.fromEntries(params.map((p, i) => [`q${i}`, p]));
  return (db.prepare(`SELECT i FROM m WHERE ${sql} ORDER BY i`).all(bound) as Array<{ i: number }>).map((r) => r.i);
}

function viaEvaluator(metas: Array<string | null>, text: string): number[] {
  const filter = compileQuery(text);
  const cost = { units: 0 };
  return metas.flatMap((m, i) => (filter(m, cost) ? [i] : []));
}

describe('queryAsJson: the evaluator picks what SQLite picked', () => {
  it('on random metas and queries', () => {
    fc.assert(
      fc.property(fc.array(meta, { minLength: 1, maxLength: 12 }), fc.array(query, { minLength: 1, maxLength: 8 }), (ms, qs) => {
        const metas = ms.map((m) => (m === null ? null : JSON.stringify(m)));
        for (const q of qs) {
          const text = JSON.stringify(q);
          expect(viaEvaluator(metas, text), text).toEqual(viaSql(metas, text));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('orders strings by code point, as SQLite orders UTF-8', () => {
    const sample = ['', 'a', '\uFFFF', '\u{10000}', '\u{1F600}', '\uE000', '\uD7FF', 'z'];
    for (const x of sample) {
      for (const y of sample) {
        const sqlite = (db.prepare('SELECT (? < ?) - (? > ?) AS d').get(x, y, x, y) as { d: number }).d;
        expect(Math.sign(compareCodePoints(x, y)), `${JSON.stringify(x)} vs ${JSON.stringify(y)}`).toBe(0 - sqlite);
      }
    }
  });
});
