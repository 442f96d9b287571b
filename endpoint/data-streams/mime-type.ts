/**
 * The MIME type a stream gets from its name when its sender gives none. `mime/lite`'s table (about
 * 12 KB minified) loads on first use: outside what a page loads at start (docs/package.md, "Browser
 * bundle budget"), since most pages send no file before their user picks one.
 */
export async function mimeTypeOf(name: string): Promise<string> {
  const { default: mime } = await import('mime/lite');
  return mime.getType(name) || 'application/octet-stream';
}
