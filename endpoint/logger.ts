/**
 * The Endpoint's injected logger (STYLE.md rule 8). Library code never writes to the console itself;
 * an app passes its own logger (pino, console, ...) to `Endpoint.connect` options, or gets silence.
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
