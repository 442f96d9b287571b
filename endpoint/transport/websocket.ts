/**
 * The slice of the WHATWG WebSocket API the Endpoint uses. Browsers provide it natively; in Node the
 * `ws` package provides it (#endpoint-websocket in package.json picks the implementation), so that
 * everything above the transport stays browser-safe.
 */
export interface SocketLike {
  binaryType: 'arraybuffer' | 'blob' | 'nodebuffer' | 'fragments';
  readonly bufferedAmount: number;
  readonly readyState: number;
  send(data: string | ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: 'error', listener: (event: unknown) => void): void;
}

/**
 * Opens a socket with the binary type its runtime handles best; binary messages arrive as an
 * ArrayBuffer (browsers) or a Uint8Array (Node's Buffer).
 */
export type SocketFactory = (url: string) => SocketLike;

export const SOCKET_OPEN = 1;
