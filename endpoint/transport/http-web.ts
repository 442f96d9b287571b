/** Browsers (and runtimes without node:http): the global fetch, the answer read with a byte count. */
import { ResponseTooLarge, type HttpSend } from './fetch.ts';

export const httpSend: HttpSend = async ({ method, url, headers, body, signal, maxBytes }) => {
  const response = await fetch(url, { method, headers, body, signal });
  const declared = Number(response.headers.get('content-length'));
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new ResponseTooLarge(declared, maxBytes);
  }
  if (response.body === null) return { status: response.status, text: '' };
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new ResponseTooLarge(size, maxBytes);
    }
    text += decoder.decode(value, { stream: true });
  }
  return { status: response.status, text: text + decoder.decode() };
};
