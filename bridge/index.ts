/**
 * `sealroom/bridge`: run a Bridge in-process, or talk to one's management API.
 *
 * @example
 * import { createBridge } from 'sealroom/bridge';
 * const bridge = await createBridge({ dataDir: './data', port: 0 });
 * const { solutionId } = await bridge.manage.createSolution('acme');
 * // ...
 * await bridge.close();
 */
export { createBridge, type Bridge, type CreateBridgeOptions } from './bridge.ts';
export { LOG_LEVELS, type BridgeConfig, type BridgeOptions, type Limits, type LogLevel } from './config.ts';
export { BridgeEvents, type BridgeEventMap } from './events.ts';
export type { ErrorCode } from './http/errors.ts';
export { ManageClient, ManageError, type ManageClientOptions } from './manage/client.ts';
export type { Store } from './store/types.ts';
