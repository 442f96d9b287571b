/** Browsers (and any runtime without Node's fs): local file paths are not available. */
import { DataStreamError } from '../data-streams/errors.ts';
import type { CreateFileSink, OpenFileSource } from './fs.ts';

const unsupported = (what: string): Promise<never> =>
  Promise.reject(new DataStreamError('Unsupported', `${what} needs Node's file system; in a browser, send a Blob or File and read the stream`));

export const createFileSink: CreateFileSink = () => unsupported('writeToFile()');
export const openFileSource: OpenFileSource = () => unsupported('sendFile() with a path');
