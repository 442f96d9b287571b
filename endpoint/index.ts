/**
 * `sealroom/endpoint`: the client library (PrivMX-style API) for Node and browsers.
 */
export { Endpoint, type SetupOptions } from './endpoint.ts';
export type { BulkThreadMode } from './util/realtime-presence.ts';
export { Connection, type ConnectOptions, type ConnectionEvents, type ConnectionState } from './connection.ts';
export { CONTEXT_USERS_READ_MAX, type ContextUser, type ContextUsersPage, type ContextUsersPageOptions } from './context-users.ts';
export { EventApi } from './event-api.ts';
export { StreamApi, type StreamApiOptions } from './stream-api.ts';
export { EndpointError, type EndpointErrorReason } from './errors.ts';
export { MemoryTrustStore, type FormerKey, type TrustStore, type TrustedRoom, type UserPin } from './rooms/trust.ts';
export type { Logger } from './logger.ts';
export type { RequestOptions } from './transport/http.ts';
export type {
  KeyChangedEvent,
  PagingList,
  PagingQuery,
  RoomPolicy,
  StatusCode,
  StreamRoom,
  StreamRoomCreatedEvent,
  StreamRoomDeletedEvent,
  StreamRoomEvent,
  StreamRoomUpdatedEvent,
  UserVerificationRequest,
  UserVerifier,
  UserWithPubKey,
} from './types.ts';
export { buildSubscriptionQuery } from '../protocol/ws.ts';
export { DataStreamError, type DataStreamErrorReason } from './data-streams/errors.ts';
export { PeerError, type PeerErrorReason } from './peers/errors.ts';
export type { RemotePeer } from './peers/remote-peer.ts';
export type { PeerRefusals, RemotePeerListener, RemotePeerRequest } from './peers/peers-api.ts';
export type { IncomingDirectStream } from './peers/direct-stream.ts';
export type {
  ConnectPeerOptions,
  OpenChannelOptions,
  PeerConnectionState,
  PeerOptions,
  PeerSendOptions,
  RemotePeerEventMap,
  RemotePeerJson,
} from './peers/types.ts';
export type {
  BaseStreamInfo,
  ByteStreamHandler,
  ByteStreamInfo,
  ByteStreamReader,
  ByteStreamWriter,
  ChatFields,
  DataStreamStats,
  DeliveryFailure,
  DeliveryReport,
  ParticipantInfo,
  SendFileOptions,
  SendTextOptions,
  StreamBytesOptions,
  StreamTextOptions,
  TextStreamHandler,
  TextStreamInfo,
  TextStreamReader,
  TextStreamWriter,
} from './data-streams/types.ts';
export type {
  BroadcastEventMap,
  BroadcastMetadata,
  BroadcastOptions,
  BroadcastStreamAborted,
  BroadcastStreamComplete,
  SendData,
  SendOptions,
  SendResult,
  StreamCompletedEvent,
  StreamReceivedEvent,
  Transfer,
  TransferProgress,
} from './data-streams/web-streams/types.ts';
export type {
  DataTrackStats,
  MediaStreamTrackLike,
  MediaStreamTrackOf,
  PublishState,
  PublishStateListener,
  RealtimeEvent,
  RemoteDataInfo,
  RemoteStreamListener,
  RemoteStreamTrackEvent,
  StaleViewEvent,
  StreamHandle,
  StreamInfo,
  StreamPublishResult,
  StreamSubscription,
  StreamTrackInfo,
  TrackOptions,
} from './realtime/types.ts';
export type { EndpointEvent, EventApiStats, EventMap } from './event-api.ts';
export type { AudioLevelStats, AudioLevelStatsListener, MediaOptions, MediaStats, MediaTransportStats, StreamAudioLevel } from './media/types.ts';
export type { MediaWorkerSource } from './media/e2ee.ts';
