/**
 * The small part of the Web Streams shapes that must exist at once (the objects the app gets back
 * synchronously); the rest (broadcast.ts, transfer.ts) loads on first use, so the browser entry chunk
 * does not carry it (test/package/bundle-size.test.ts).
 */
import type { SendResult, Transfer, TransferProgress } from './types.ts';

/**
 * What the broadcast sink may hold besides the chunk being sent, in bytes (the WritableStream's high
 * water mark): one full stream chunk. A slow receiver brings `desiredSize` to 0 at most a chunk later.
 */
export const BROADCAST_HIGH_WATER_BYTES = 64 * 1024;

/** A WritableStream whose sink loads first (its `start` waits for it); its queue counts bytes. */
export function lazyWritable(loading: Promise<UnderlyingSink<Uint8Array>>): WritableStream<Uint8Array> {
  loading.catch(() => undefined);
  let sink!: UnderlyingSink<Uint8Array>;
  return new WritableStream<Uint8Array>(
    {
      async start(controller) {
        sink = await loading;
        await sink.start?.(controller);
      },
      write: (chunk, controller) => sink.write?.(chunk, controller),
      close: () => sink.close?.(),
      abort: (reason) => sink.abort?.(reason),
    },
    { highWaterMark: BROADCAST_HIGH_WATER_BYTES, size: (chunk) => (chunk instanceof Uint8Array ? chunk.byteLength : 0) },
  );
}

/** A Transfer: a pull-based progress stream over a source that loads first, awaitable for its result. */
export function lazyTransfer(loading: Promise<{ source: UnderlyingDefaultSource<TransferProgress>; result: Promise<SendResult> }>): Transfer {
  const result = loading.then((t) => t.result);
  result.catch(() => undefined);
  const progress = new ReadableStream<TransferProgress>(
    {
      pull: async (controller) => (await loading).source.pull?.(controller),
      cancel: async (reason) => (await loading).source.cancel?.(reason),
    },
    { highWaterMark: 0 },
  );
  const then: Transfer['then'] = (onFulfilled, onRejected) => result.then(onFulfilled, onRejected);
  // `for await` over the progress, in browsers whose ReadableStream is not async-iterable yet too.
  async function* steps(): AsyncGenerator<TransferProgress> {
    const reader = progress.getReader();
    try {
      for (let step = await reader.read(); !step.done; step = await reader.read()) yield step.value;
    } finally {
      reader.releaseLock();
    }
  }
  return Object.assign(progress, { then, [Symbol.asyncIterator]: steps });
}
