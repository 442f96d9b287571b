/** Placeholder with the contract the facade uses; replaced by the byte/text streams implementation. */
import type { Connection } from '../connection.ts';
import { EndpointError } from '../errors.ts';
import type { EventApi } from '../event-api.ts';
import type { KeyRing } from '../rooms/keyring.ts';
import type { RoomApi } from '../rooms/room-api.ts';
import type { StreamRoomLeftEvent } from '../realtime/types.ts';
import type {
  ByteStreamHandler,
  ByteStreamWriter,
  SendFileOptions,
  SendTextOptions,
  StreamBytesOptions,
  StreamTextOptions,
  TextStreamHandler,
  TextStreamWriter,
} from './types.ts';

const missing = (): never => {
  throw new EndpointError('Unsupported', 'byte and text streams are not available in this build');
};

export class DataStreamsApi {
  constructor(
    readonly connection: Connection,
    readonly eventApi: EventApi,
    readonly rooms: RoomApi,
    readonly keys: KeyRing,
  ) {}
  /** This connection left a room: its open readers and writers there end with an error. */
  roomLeft(_roomId: string, _reason: StreamRoomLeftEvent['reason']): void {}
  async sendFile(_file: string | Blob | Uint8Array | ReadableStream<Uint8Array>, _options: SendFileOptions): Promise<{ id: string }> {
    return missing();
  }
  async streamBytes(_options: StreamBytesOptions): Promise<ByteStreamWriter> {
    return missing();
  }
  async sendText(_text: string, _options: SendTextOptions): Promise<{ id: string }> {
    return missing();
  }
  async streamText(_options: StreamTextOptions): Promise<TextStreamWriter> {
    return missing();
  }
  registerByteStreamHandler(_topic: string, _handler: ByteStreamHandler): void {
    missing();
  }
  unregisterByteStreamHandler(_topic: string): void {
    missing();
  }
  registerTextStreamHandler(_topic: string, _handler: TextStreamHandler): void {
    missing();
  }
  unregisterTextStreamHandler(_topic: string): void {
    missing();
  }
}
