/**
 * A signed-in person: the Endpoint's Connection, EventApi and StreamApi for one identity, the
 * connection state shown in the header, and the per-room logs that the stream handlers fill. The
 * handlers are registered once per session (topics `chat` and `files`) and route by room.
 */
import { Endpoint, type Connection, type EventApi, type KeyChangedEvent, type StreamApi } from 'sealroom/endpoint';
import { nextConnectionState, RECONNECTED_NOTICE_MS, type ConnectionSignal, type ShownConnectionState } from './connection-state.ts';
import { formatBytes } from './format.ts';
import { describeError, PersonError } from './messages.ts';
import { FileMemory, FILES_ARRIVING_MAX_BYTES } from './file-memory.ts';
import { RoomLog, type FileItem } from './room-log.ts';

export const CHAT_TOPIC = 'chat';
export const FILES_TOPIC = 'files';
/** Largest file the page sends or receives: a received file is held in memory until it is saved. */
export const FILE_MAX_BYTES = 256 * 1024 * 1024;

/** Longest chat message shown, in UTF-16 units (the page's own input takes 4,000); a longer one is refused unread. */
export const CHAT_MAX_CHARS = 16_384;

const tooLarge = () =>
  new PersonError('LIMIT', `Files in this page are limited to ${formatBytes(FILE_MAX_BYTES)}: it keeps a received file in memory until it is saved.`);
const tooLong = () =>
  new PersonError('LIMIT', `Chat messages in this page are limited to ${CHAT_MAX_CHARS.toLocaleString('en')} characters; this one was longer.`);
const tooMuchAtOnce = () =>
  new PersonError('LIMIT', `More than ${formatBytes(FILES_ARRIVING_MAX_BYTES)} of files were arriving at once; this one was stopped. Ask for it again.`);

export interface SessionIdentity {
  userId: string;
  publicKey: string;
  solutionId: string;
}

export class Session {
  readonly connection: Connection;
  readonly eventApi: EventApi;
  readonly streamApi: StreamApi;
  readonly identity: SessionIdentity;
  #state: ShownConnectionState = { kind: 'connected' };
  readonly #stateListeners = new Set<(state: ShownConnectionState) => void>();
  readonly #keyChangeListeners = new Set<(event: KeyChangedEvent) => void>();
  readonly #logs = new Map<string, RoomLog>();
  /** What received files hold in this page, over every room. */
  readonly files = new FileMemory();
  #settleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Users this person compared safety numbers with, per context (kept for this tab's session). */
  readonly verified = new Set<string>();

  private constructor(connection: Connection, eventApi: EventApi, streamApi: StreamApi, identity: SessionIdentity) {
    this.connection = connection;
    this.eventApi = eventApi;
    this.streamApi = streamApi;
    this.identity = identity;
    connection.on('connectionLost', () => this.#signal({ type: 'connectionLost' }));
    connection.on('reconnecting', (e) => this.#signal({ type: 'reconnecting', attempt: e.attempt }));
    connection.on('reconnected', () => {
      this.#signal({ type: 'reconnected' });
      clearTimeout(this.#settleTimer);
      this.#settleTimer = setTimeout(() => this.#signal({ type: 'settled' }), RECONNECTED_NOTICE_MS);
    });
    connection.on('disconnected', (e) => this.#signal({ type: 'disconnected', reason: e.reason }));
    eventApi.on('keyChanged', (event) => {
      // A verification covered the old key only.
      this.verified.delete(`${event.contextId}/${event.userId}`);
      for (const listener of this.#keyChangeListeners) listener(event);
    });
    this.#registerHandlers();
  }

  /**
   * Signs in: the private key signs the Bridge's challenge in this page and stays here.
   * `loopbackCandidatesOnly`: the Bridge's media unit is on loopback (its default) and takes loopback
   * ICE candidates only, so no other is offered (docs/media/forwarding-unit.md).
   */
  static async open(privateKey: string, identity: Omit<SessionIdentity, 'userId'>, options: { loopbackCandidatesOnly: boolean }): Promise<Session> {
    await Endpoint.setup();
    const connection = await Endpoint.connect(privateKey, identity.solutionId, location.origin);
    const eventApi = await Endpoint.createEventApi(connection);
    // Pins and trusted room heads persist in this browser's IndexedDB (the Endpoint's default).
    const media = options.loopbackCandidatesOnly ? { media: { allowCandidate: isLoopbackAddress } } : {};
    try {
      // TrustStoreBusy when this identity is open in another tab or window (one holds the store at a time).
      const streamApi = await Endpoint.createStreamApi(connection, eventApi, media);
      return new Session(connection, eventApi, streamApi, { ...identity, userId: connection.userId });
    } catch (error) {
      await connection.disconnect();
      throw error;
    }
  }

  get state(): ShownConnectionState {
    return this.#state;
  }

  onState(listener: (state: ShownConnectionState) => void): () => void {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  onKeyChanged(listener: (event: KeyChangedEvent) => void): () => void {
    this.#keyChangeListeners.add(listener);
    return () => this.#keyChangeListeners.delete(listener);
  }

  #signal(signal: ConnectionSignal): void {
    this.#state = nextConnectionState(this.#state, signal);
    for (const listener of this.#stateListeners) listener(this.#state);
  }

  /** The log of a room, created on first use. */
  log(roomId: string): RoomLog {
    let log = this.#logs.get(roomId);
    if (log === undefined) this.#logs.set(roomId, (log = new RoomLog()));
    return log;
  }

  #registerHandlers(): void {
    this.streamApi.registerTextStreamHandler(CHAT_TOPIC, async (reader, { identity, streamRoomId }) => {
      const log = this.log(streamRoomId);
      try {
        // Read in parts, so a message past the bound stops (and cancels) the stream instead of filling the page.
        const parts: string[] = [];
        let length = 0;
        for await (const part of reader) {
          length += part.length;
          if (length > CHAT_MAX_CHARS) throw tooLong();
          parts.push(part);
        }
        log.add({ kind: 'text', id: log.newId('in'), from: identity, mine: false, text: parts.join(''), at: reader.info.timestamp });
      } catch (error) {
        log.notice(`A message from ${identity} could not be read: ${describeError(error).message}`);
      }
    });
    this.streamApi.registerByteStreamHandler(FILES_TOPIC, async (reader, { identity, streamRoomId }) => {
      const log = this.log(streamRoomId);
      const { name, size, mimeType, timestamp } = reader.info;
      const id = log.newId('in');
      const item: FileItem = { kind: 'file', id, from: identity, mine: false, name, size, mimeType, at: timestamp, progress: 0, state: 'moving' };
      log.add(item);
      reader.onProgress = (progress) => log.updateFile(id, { progress });
      let held = 0;
      try {
        // Held in memory until saved: past a cap the reading stops, which aborts the stream.
        const chunks: Uint8Array[] = [];
        for await (const chunk of reader) {
          if (held + chunk.byteLength > FILE_MAX_BYTES || (size ?? 0) > FILE_MAX_BYTES) throw tooLarge();
          if (!this.files.take(chunk.byteLength)) throw tooMuchAtOnce();
          held += chunk.byteLength;
          chunks.push(chunk);
        }
        // Never the sender's MIME type: the page must not be able to open a received file as one of its own documents.
        log.updateFile(id, { state: 'done', progress: 1, blob: new Blob(chunks as BlobPart[], { type: 'application/octet-stream' }) });
        this.files.keep(item, log);
      } catch (error) {
        log.updateFile(id, { state: 'failed', error });
      } finally {
        this.files.release(held);
      }
    });
  }

  /** Sends a file to the room with a progress bar of its own. */
  async sendFile(roomId: string, file: File): Promise<void> {
    const log = this.log(roomId);
    if (file.size > FILE_MAX_BYTES) throw tooLarge();
    const localId = log.newId('out');
    log.add({
      kind: 'file',
      id: localId,
      from: this.identity.userId,
      mine: true,
      name: file.name,
      size: file.size,
      mimeType: file.type,
      at: Date.now(),
      progress: 0,
      state: 'moving',
    });
    try {
      await this.streamApi.sendFile(file, { roomId, topic: FILES_TOPIC, name: file.name, onProgress: (progress) => log.updateFile(localId, { progress }) });
      log.updateFile(localId, { state: 'done', progress: 1 });
    } catch (error) {
      log.updateFile(localId, { state: 'failed', error });
      throw error;
    }
  }

  async sendText(roomId: string, text: string): Promise<void> {
    await this.streamApi.sendText(text, { roomId, topic: CHAT_TOPIC });
    const log = this.log(roomId);
    log.add({ kind: 'text', id: log.newId('out'), from: this.identity.userId, mine: true, text, at: Date.now() });
  }

  async close(): Promise<void> {
    clearTimeout(this.#settleTimer);
    await this.connection.disconnect();
  }
}

const isLoopbackAddress = (address: string): boolean => address.startsWith('127.') || address === '::1';
