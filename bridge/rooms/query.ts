/**
 * `queryAsJson`: a MongoDB-style filter over a room's public meta when that meta is a JSON object
 * (PrivMX's query language). It compiles to a JavaScript predicate that the listing runs over rooms in
 * bounded slices (bridge/rooms/list-scan.ts), never to SQL: SQLite re-parses the JSON text for every
 * `json_extract` of every condition, so a 64 x 64 `$in` over 58 KB metas cost 450 ms a room in one
 * uninterruptible call (docs/operations/limits.md, "Listings with queryAsJson"). Here each meta is
 * parsed once, and the work of a condition is bounded by the limits below.
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
 * $contains matches a substring of a string field or an element of an array field. A path names
 * object members only (never array indexes). Numbers are IEEE doubles, so integers beyond 2^53 compare
 * approximately.
 */
import { BridgeError } from '../errors.ts';

export const QUERY_MAX_CONDITIONS = 64;
export const QUERY_MAX_DEPTH = 8;
export const QUERY_MAX_PATH_SEGMENTS = 8;
/** What one array element compared by `$contains` costs, in the units of `listScanBytes` (bytes read). */
export const CONTAINS_ELEMENT_COST = 2;
const SEGMENT = /^[A-Za-z0-9_-]{1,64}$/;

type Literal = string | number | boolean | null;

const OPERATORS = ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists', '$startsWith', '$endsWith', '$contains'] as const;
type Operator = (typeof OPERATORS)[number];

/** Work done while evaluating, in the units of `listScanBytes`. */
export interface ScanCost {
  units: number;
}

/** A compiled query: whether a room's public meta (JSON text, or null when it is not a JSON object) matches. */
export type RoomFilter = (publicMetaJson: string | null, cost: ScanCost) => boolean;

/** A condition over the parsed meta. */
type Test = (meta: unknown, cost: ScanCost) => boolean;

const MISSING = Symbol('missing');

function invalid(message: string): BridgeError {
  return BridgeError.invalid('VALIDATION_FAILED', `queryAsJson: ${message}`, { field: 'query.queryAsJson' });
}

function isLiteral(value: unknown): value is Literal {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The UTF-16 code unit mapped so that unit order is code point order (surrogates sort above U+FFFF). */
function unitRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}

/** Compares strings by code point, as SQLite compares UTF-8 text. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return unitRank(x) - unitRank(y);
  }
  return a.length - b.length;
}

/** Typed equality with a literal: a number never equals a string, null equals only null. */
function equals(value: unknown, literal: Literal): boolean {
  return value === literal;
}

class Compiler {
  private conditions = 0;

  private count(): void {
    if (++this.conditions > QUERY_MAX_CONDITIONS) throw invalid(`more than ${QUERY_MAX_CONDITIONS} conditions`);
  }

  query(value: unknown, depth: number): Test {
    if (depth > QUERY_MAX_DEPTH) throw invalid(`nested deeper than ${QUERY_MAX_DEPTH} levels`);
    if (!isPlainObject(value)) throw invalid('expected a JSON object');
    const parts: Test[] = [];
    for (const [key, operand] of Object.entries(value)) {
      if (key === '$and' || key === '$or' || key === '$nor') {
        if (!Array.isArray(operand) || operand.length === 0) throw invalid(`${key} expects a non-empty array of queries`);
        const subs = operand.map((q) => this.query(q, depth + 1));
        if (key === '$and') parts.push((m, c) => subs.every((t) => t(m, c)));
        else if (key === '$or') parts.push((m, c) => subs.some((t) => t(m, c)));
        else parts.push((m, c) => !subs.some((t) => t(m, c)));
      } else if (key.startsWith('$')) {
        throw invalid(`unknown top-level operator ${key}`);
      } else {
        parts.push(this.field(key, operand));
      }
    }
    return (m, c) => parts.every((t) => t(m, c));
  }

  private path(field: string): string[] {
    const segments = field.split('.');
    if (segments.length > QUERY_MAX_PATH_SEGMENTS || !segments.every((s) => SEGMENT.test(s))) {
      throw invalid(`field "${field.slice(0, 80)}" must be up to ${QUERY_MAX_PATH_SEGMENTS} dot-separated names of [A-Za-z0-9_-]`);
    }
    return segments;
  }

  private field(field: string, operand: unknown): Test {
    const segments = this.path(field);
    const at = (meta: unknown): unknown => {
      let value = meta;
      for (const segment of segments) {
        // Own members only: "__proto__" or "constructor" name data, never the prototype chain.
        if (!isPlainObject(value) || !Object.hasOwn(value, segment)) return MISSING;
        value = value[segment];
      }
      return value;
    };
    if (isLiteral(operand)) {
      const test = this.op(field, '$eq', operand);
      return (m, c) => test(at(m), c);
    }
    if (!isPlainObject(operand) || Object.keys(operand).length === 0) {
      throw invalid(`field "${field}" expects a literal or an object of operators`);
    }
    const tests = Object.entries(operand).map(([op, value]) => {
      if (!(OPERATORS as readonly string[]).includes(op)) throw invalid(`unknown operator ${op.slice(0, 40)} on "${field}"`);
      return this.op(field, op as Operator, value);
    });
    return (m, c) => {
      const value = at(m);
      return tests.every((t) => t(value, c));
    };
  }

  /** A test over the field's value (MISSING when the path does not exist). */
  private op(field: string, op: Operator, operand: unknown): Test {
    this.count();
    switch (op) {
      case '$eq':
      case '$ne': {
        if (!isLiteral(operand)) throw invalid(`${op} on "${field}" expects a string, number, boolean or null`);
        if (typeof operand === 'number' && !Number.isFinite(operand)) throw invalid('numbers must be finite');
        return op === '$eq' ? (v) => equals(v, operand) : (v) => !equals(v, operand);
      }
      case '$gt':
      case '$gte':
      case '$lt':
      case '$lte': {
        const holds = { $gt: (d: number) => d > 0, $gte: (d: number) => d >= 0, $lt: (d: number) => d < 0, $lte: (d: number) => d <= 0 }[op];
        if (typeof operand === 'number' && Number.isFinite(operand)) {
          return (v) => typeof v === 'number' && holds(v < operand ? -1 : v > operand ? 1 : 0);
        }
        if (typeof operand === 'string') return (v) => typeof v === 'string' && holds(compareCodePoints(v, operand));
        throw invalid(`${op} on "${field}" expects a number or a string`);
      }
      case '$in':
      case '$nin': {
        if (!Array.isArray(operand) || operand.length === 0 || operand.length > QUERY_MAX_CONDITIONS || !operand.every(isLiteral)) {
          throw invalid(`${op} on "${field}" expects a non-empty array of at most ${QUERY_MAX_CONDITIONS} literals`);
        }
        if (operand.some((item) => typeof item === 'number' && !Number.isFinite(item))) throw invalid('numbers must be finite');
        const set = new Set<Literal>(operand);
        return op === '$in' ? (v) => v !== MISSING && set.has(v as Literal) : (v) => v === MISSING || !set.has(v as Literal);
      }
      case '$exists':
        if (typeof operand !== 'boolean') throw invalid(`$exists on "${field}" expects true or false`);
        return (v) => (v !== MISSING) === operand;
      case '$startsWith':
        if (typeof operand !== 'string') throw invalid(`$startsWith on "${field}" expects a string`);
        return (v) => typeof v === 'string' && v.startsWith(operand);
      case '$endsWith':
        if (typeof operand !== 'string') throw invalid(`$endsWith on "${field}" expects a string`);
        return (v) => typeof v === 'string' && v.endsWith(operand);
      case '$contains': {
        if (!isLiteral(operand)) throw invalid(`$contains on "${field}" expects a string, number, boolean or null`);
        if (typeof operand === 'number' && !Number.isFinite(operand)) throw invalid('numbers must be finite');
        return (v, cost) => {
          if (typeof v === 'string') return typeof operand === 'string' && v.includes(operand);
          if (!Array.isArray(v)) return false;
          // The one condition whose work grows with the data: each element compared is counted.
          const at = v.indexOf(operand);
          cost.units += CONTAINS_ELEMENT_COST * (at === -1 ? v.length : at + 1);
          return at !== -1;
        };
      }
      default: {
        const never: never = op;
        throw invalid(`unknown operator ${String(never)}`);
      }
    }
  }
}

/**
 * Compiles a `queryAsJson` string into a filter over a room's public meta. Throws 400 VALIDATION_FAILED
 * naming the problem for malformed JSON, unknown operators, bad operands and queries over the limits.
 * The filter counts its work into `cost`: the meta's length (it is parsed once) and `$contains`'s
 * array elements.
 */
export function compileQuery(text: string): RoomFilter {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid('not valid JSON');
  }
  const test = new Compiler().query(parsed, 1);
  return (publicMetaJson, cost) => {
    let meta: unknown;
    if (publicMetaJson !== null) {
      cost.units += publicMetaJson.length;
      meta = JSON.parse(publicMetaJson);
    }
    return test(meta, cost);
  };
}
