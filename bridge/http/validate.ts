/**
 * Validation at the boundary (STYLE.md rule 3): every body, query and path parameter goes through a
 * zod schema once, and a failure becomes 400 VALIDATION_FAILED naming the field. A schema is classic zod
 * (the Bridge's own) or zod/mini (protocol/, shared with the Endpoint: protocol/zod.ts); both are zod core
 * schemas, parsed the same way.
 */
import * as z from 'zod';
import { HttpError } from './errors.ts';

export function parseInput<T extends z.core.$ZodType>(schema: T, value: unknown, where: 'body' | 'query' | 'params'): z.output<T> {
  const result = z.safeParse(schema, value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.length > 0 ? `${where}.${issue.path.join('.')}` : where;
  throw HttpError.badRequest('VALIDATION_FAILED', `${field}: ${issue.message}`, {
    field,
    issues: result.error.issues.slice(0, 10).map((i) => ({ path: i.path.join('.'), message: i.message })),
  });
}
