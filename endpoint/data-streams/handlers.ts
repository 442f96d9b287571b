/** Topic handlers: one per topic and kind (LiveKit: registering a topic twice throws). */
import { DataStreamError } from './errors.ts';
import { TOPIC_MAX_CHARS } from './limits.ts';
import type { ByteStreamHandler, TextStreamHandler } from './types.ts';

export class Handlers {
  readonly bytes = new Map<string, ByteStreamHandler>();
  readonly text = new Map<string, TextStreamHandler>();

  register(kind: 'bytes', topic: string, handler: ByteStreamHandler): void;
  register(kind: 'text', topic: string, handler: TextStreamHandler): void;
  register(kind: 'bytes' | 'text', topic: string, handler: ByteStreamHandler | TextStreamHandler): void {
    checkTopic(topic);
    if (typeof handler !== 'function') throw DataStreamError.invalidArgument('"handler" expected a function');
    const map: Map<string, unknown> = kind === 'bytes' ? this.bytes : this.text;
    if (map.has(topic))
      throw new DataStreamError('HandlerExists', `a ${kind === 'bytes' ? 'byte' : 'text'} stream handler is already registered for topic "${topic}"`);
    map.set(topic, handler);
  }

  unregister(kind: 'bytes' | 'text', topic: string): void {
    checkTopic(topic);
    (kind === 'bytes' ? this.bytes : this.text).delete(topic);
  }
}

function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || topic === '' || topic.length > TOPIC_MAX_CHARS) {
    throw DataStreamError.invalidArgument(`"topic" expected a non-empty string of at most ${TOPIC_MAX_CHARS} characters`);
  }
}
