/**
 * `queryAsJson`: a MongoDB-style filter over a room's public meta when that meta is a JSON object
 * (PrivMX's query language). It compiles to a parameterised SQLite expression over `json_extract`, so
 * no part of the query is ever spliced into SQL text.
 *
 * Grammar:
 *   query     := { clause, ... }                       all clauses must hold
 *   clause    := "field.path": literal                 same as { "$eq": literal }
 *              | "field.path": { op: operand, ... }    every operator must hold
 *              | "$and" | "$or" | "$nor": [query, ...]
 *   op        := $eq $ne $gt $gte $lt $lte $in $nin $exists $startsWith $endsWith $contains
 *   literal   := string | number | boolean | null
 *
 * Semantics: comparisons are typed (a number never equals a string); $gt..$lte order numbers
 * numerically and strings by code point; $ne and $nin also match rooms where the field is missing;
 * $contains matches a substring of a string field or an element of an array field.
 */
import { HttpError } from '../http/errors.ts';
import type { SqlFilter } from '../store/types.ts';

export const QUERY_MAX_CONDITIONS = 64;
export const QUERY_MAX_DEPTH = 8;
export const QUERY_MAX_PATH_SEGMENTS = 8;
const SEGMENT = /^[A-Za-z0-9_-]{1,64}$/;

type Literal = string | number | boolean | null;

const OPERATORS = ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists', '$startsWith', '$endsWith', '$contains'] as const;
type Operator = (typeof OPERATORS)[number];

function invalid(message: string): HttpError {
  return HttpError.badRequest('VALIDATION_FAILED', `queryAsJson: ${message}`, { field: 'query.queryAsJson' });
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
    return this.param('$' + segments.map((s) => `."${s}"`).join(''));
  }

  private field(field: string, operand: unknown): string {
    const path = this.path(field);
    if (isLiteral(operand)) return `COALESCE(${this.op(field, path, '$eq', operand)}, 0)`;
    if (!isPlainObject(operand) || Object.keys(operand).length === 0) {
      throw invalid(`field "${field}" expects a literal or an object of operators`);
    }
    return Object.entries(operand)
      .map(([op, value]) => {
        if (!(OPERATORS as readonly string[]).includes(op)) throw invalid(`unknown operator ${op.slice(0, 40)} on "${field}"`);
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

/**
 * Compiles a `queryAsJson` string into a SQL filter over `column`. Throws 400 VALIDATION_FAILED naming
 * the problem for malformed JSON, unknown operators, bad operands and queries over the limits.
 */
export function compileQuery(text: string, column = 'r.public_meta_json'): SqlFilter {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid('not valid JSON');
  }
  const compiler = new Compiler(column);
  const sql = compiler.query(parsed, 1);
  return { sql, params: compiler.params };
}
