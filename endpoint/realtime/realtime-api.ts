/** Placeholder with the contract the facade uses; replaced by the real-time implementation. */
import type { Connection } from '../connection.ts';
import { EndpointError } from '../errors.ts';
import type { EventApi } from '../event-api.ts';
import type { KeyRing } from '../rooms/keyring.ts';
import type { RoomApi } from '../rooms/room-api.ts';
import type { RequestOptions } from '../transport/http.ts';
import type {
  DataTrackStats,
  PublishStateListener,
  RemoteStreamListener,
  StreamHandle,
  StreamInfo,
  StreamPublishResult,
  StreamRoomLeftEvent,
  StreamSubscription,
  TrackOptions,
} from './types.ts';

const missing = (): never => {
  throw new EndpointError('Unsupported', 'the real-time plane is not available in this build');
};

export class RealtimeApi {
  constructor(
    readonly connection: Connection,
    readonly eventApi: EventApi,
    readonly rooms: RoomApi,
    readonly keys: KeyRing,
  ) {}
  /** Called with every room this connection leaves, for any reason (the byte streams end there). */
  onRoomLeft(_listener: (roomId: string, reason: StreamRoomLeftEvent['reason']) => void): void {}
  async joinStreamRoom(_roomId: string, _options?: RequestOptions): Promise<void> {
    missing();
  }
  async leaveStreamRoom(_roomId: string, _options?: RequestOptions): Promise<void> {
    missing();
  }
  async createStream(_roomId: string): Promise<StreamHandle> {
    return missing();
  }
  async addStreamTrack(_handle: StreamHandle, _track: TrackOptions): Promise<string> {
    return missing();
  }
  async removeStreamTrack(_handle: StreamHandle, _trackId: string): Promise<void> {
    missing();
  }
  async publishStream(_handle: StreamHandle, _onState?: PublishStateListener): Promise<StreamPublishResult> {
    return missing();
  }
  async updateStream(_handle: StreamHandle): Promise<StreamPublishResult> {
    return missing();
  }
  async unpublishStream(_handle: StreamHandle): Promise<void> {
    missing();
  }
  async listStreams(_roomId: string, _options?: RequestOptions): Promise<StreamInfo[]> {
    return missing();
  }
  async subscribeToRemoteStreams(_roomId: string, _subs: StreamSubscription[]): Promise<void> {
    missing();
  }
  async modifyRemoteStreamsSubscriptions(_roomId: string, _add: StreamSubscription[], _remove: StreamSubscription[]): Promise<void> {
    missing();
  }
  async unsubscribeFromRemoteStreams(_roomId: string, _subs: StreamSubscription[]): Promise<void> {
    missing();
  }
  addRemoteStreamListener(_listener: RemoteStreamListener): () => void {
    return missing();
  }
  async sendData(_trackId: string, _data: Uint8Array): Promise<void> {
    missing();
  }
  stats(): DataTrackStats {
    return { delivered: 0, undecryptable: 0, replayed: 0, droppedBySlowness: 0, noKey: 0 };
  }
}
