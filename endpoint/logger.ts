/**
 * The Endpoint's injected logger (STYLE.md rule 8). Library code never writes to the console itself;
 * an app passes its own logger to `Endpoint.connect` options, or gets silence.
 *
 * The calls have pino's two forms, `(fields, message)` and `(message)`, so a pino logger is passed as
 * it is and its lines carry the fields. Another logger needs both forms; `console` takes them too.
 * @example
 * import { pino } from 'pino';
 * const connection = await Endpoint.connect(userPrivKey, solutionId, bridgeUrl, { logger: pino() });
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  debug(message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  info(message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  warn(message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
  error(message: string): void;
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
