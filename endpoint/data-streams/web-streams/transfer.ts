/**
 * `send()` in Peerix's shape (docs/data-streams/web-streams.md): one byte stream, with its progress as
 * a pull-based `ReadableStream` and its result (who proved delivery) as a promise. Loaded on first use
 * (lazy.ts wraps it into the `Transfer` the app gets at once).
 *
 * The abort signal aborts the byte stream itself (outgoing/writers.ts `abortOnSignal`), so it takes
 * effect inside a block, not between blocks: the write waiting for allowance rejects at once, the
 * chunks already sealed go out, then the signed abort, and every receiver's read fails with
 * `AbnormalEnd` carrying the signal's reason.
 */
import { utf8 } from '../../../crypto/bytes.ts';
import type { DataStreamsApi } from '../data-streams-api.ts';
import { DataStreamError } from '../errors.ts';
import { openSource } from '../outgoing/send-file.ts';
import { abortOnSignal, abortReasonText, checkSignal } from '../outgoing/writers.ts';
import { progressFeed } from './progress-feed.ts';
import type { SendData, SendOptions, SendResult, TransferProgress } from './types.ts';
import { mimeTypeOf } from '../mime-type.ts';

export interface Transferring {
  /** Pull-based progress: each pull gives the newest step not given yet, and closes after `done`. */
  source: UnderlyingDefaultSource<TransferProgress>;
  result: Promise<SendResult>;
}

export function startTransfer(api: DataStreamsApi, data: SendData, options: SendOptions): Transferring {
  const progress = progressFeed<TransferProgress>();

  const run = async (): Promise<SendResult> => {
    if (typeof options !== 'object' || options === null) throw DataStreamError.invalidArgument('"options" expected an object');
    checkSignal(options.signal, 'send');
    const source = await openSource(typeof data === 'string' ? utf8(data) : data);
    const name = options.name ?? source.name ?? 'unnamed';
    const mimeType = options.mimeType ?? (typeof data === 'string' ? 'text/plain' : await mimeTypeOf(name));
    const opening = api.open('bytes', {
      roomId: options.roomId,
      topic: options.topic,
      name,
      mimeType,
      ...(source.size === undefined ? {} : { totalSize: source.size }),
      ...(options.info === undefined ? {} : { attributes: options.info }),
      ...(options.destinationIdentities === undefined ? {} : { destinationIdentities: options.destinationIdentities }),
      receipts: options.receipts ?? true,
      ...(options.receiptTimeoutMs === undefined ? {} : { receiptTimeoutMs: options.receiptTimeoutMs }),
    });
    opening.catch(() => source.cancel());
    const { stream, info, delivery } = await opening;
    abortOnSignal(stream, options.signal);
    let step: TransferProgress = { id: info.id, label: info.topic, topic: info.topic, current: 0, total: source.size, done: false };
    progress.report(step);
    try {
      for await (const block of source.blocks()) {
        await stream.write(block);
        step = { ...step, current: step.current + block.length };
        progress.report(step);
      }
      await stream.close();
    } catch (error) {
      source.cancel();
      const signal = options.signal;
      await stream.abort(abortReasonText(signal?.aborted === true ? signal.reason : 'sending failed')).catch(() => undefined);
      throw signal?.aborted === true ? DataStreamError.aborted('send', signal.reason) : error;
    }
    progress.report({ ...step, total: step.current, done: true });
    const report = await delivery;
    return { id: info.id, delivered: report?.delivered ?? [], failed: report?.failed ?? [] };
  };

  const result = run();
  result.catch((error: unknown) => progress.fail(error));
  return { source: progress.source, result };
}
