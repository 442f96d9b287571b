/** Browsers (and runtimes without node:http): the global fetch. */
import type { HttpSend } from './fetch.ts';

export const httpSend: HttpSend = async ({ method, url, headers, body, signal }) => {
  const response = await fetch(url, { method, headers, body, signal });
  return { status: response.status, text: await response.text() };
};
