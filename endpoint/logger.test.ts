/**
 * The Endpoint's Logger has pino's argument order, `(fields, message)`, so a pino logger is passed as
 * it is and its JSON lines carry the fields (with `(message, fields)`, pino drops them).
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from './index.ts';
import { startKit, until, type Kit } from './realtime/test-kit.ts';

/** A real pino logger writing JSON lines to memory. */
function capturingPino(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

let kit: Kit;

beforeAll(async () => {
  kit = await startKit(['alice']);
});
afterAll(async () => {
  await kit?.close();
});

describe('the Endpoint logger', () => {
  it('takes a pino logger as it is, and the fields arrive', async () => {
    const { logger, lines } = capturingPino();
    const alice = await kit.connect('alice', { connect: { logger } });
    alice.eventApi.on('streamRoomJoined', () => {
      throw new Error('a listener bug');
    });
    const roomId = await kit.room(alice, [alice]);
    await alice.streamApi.joinStreamRoom(roomId);
    await until(() => lines.some((l) => l.msg === 'event listener threw'), 'the log line');
    const line = lines.find((l) => l.msg === 'event listener threw')!;
    expect(line).toMatchObject({ level: 50, type: 'streamRoomJoined', error: 'Error: a listener bug' });
  });

  it('accepts a message alone, as pino does', () => {
    const { logger, lines } = capturingPino();
    logger.warn('just a message');
    logger.info({ roomId: 'r1' }, 'with fields');
    expect(lines).toMatchObject([
      { level: 40, msg: 'just a message' },
      { level: 30, msg: 'with fields', roomId: 'r1' },
    ]);
  });
});
