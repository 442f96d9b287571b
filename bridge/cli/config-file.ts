/**
 * `sealroom start --config <file>`: every `createBridge` option from a JSON file (limits, realtime,
 * loginUrls, ...: bridge/config.ts, docs/operations/limits.md), so an operator can set what has no flag.
 * Flags and environment variables the operator gave win over the file; the file wins over defaults.
 */
import { readFileSync } from 'node:fs';
import type { BridgeOptions } from '../config.ts';

export class ConfigFileError extends Error {}

export function readConfigFile(path: string): Partial<BridgeOptions> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigFileError(`--config: cannot read "${path}" (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigFileError(`--config: "${path}" is not valid JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigFileError(`--config: "${path}" must hold a JSON object of Bridge options`);
  }
  return value as Partial<BridgeOptions>;
}

/** File options under the ones set explicitly (`explicit`), nested `limits` and `realtime` merged. */
export function mergeOptions(file: Partial<BridgeOptions>, explicit: Partial<BridgeOptions>): Partial<BridgeOptions> {
  const merged: Partial<BridgeOptions> = { ...file, ...explicit };
  if (file.limits !== undefined || explicit.limits !== undefined) merged.limits = { ...file.limits, ...explicit.limits } as BridgeOptions['limits'];
  if (file.realtime !== undefined || explicit.realtime !== undefined) merged.realtime = { ...file.realtime, ...explicit.realtime } as BridgeOptions['realtime'];
  return merged;
}
