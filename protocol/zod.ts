/**
 * The zod that the schemas the Endpoint bundles are written with: `zod/mini`, whose functional checks
 * (`z.string().check(z.maxLength(200))`, `z.optional(s)`) leave out of a browser bundle what a schema does
 * not call, where zod's classic API carries its method chains and JSON Schema code along (docs/package.md,
 * "Browser bundle budget"). The Bridge's own schemas stay on classic zod; both share zod's core, so
 * classic objects take these schemas as fields and `z.toJSONSchema` reads them.
 *
 * zod/mini sets no locale, and its issues would all read "Invalid input". English is set here, only when
 * no locale is set yet (classic zod sets the same one; an app's own `z.config` wins), so the messages the
 * Endpoint's errors and the Bridge's VALIDATION_FAILED carry read the same as with classic zod.
 * Modules import this one (`import * as z from './zod.ts'`), never `zod/mini` directly, so that the
 * locale is set wherever a schema can parse.
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

export * from 'zod/mini';

if (config().localeError === undefined) config(en());
