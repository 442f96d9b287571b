/**
 * The web app's static files at `/` (docs/app.md), when the Bridge runs with `appDir`. Files come
 * from express.static (content types, HEAD, conditional requests, no directory listings, no paths
 * out of the folder); this adds the cache policy and the security headers.
 *
 * - Cache: the build names every asset under `assets/` by its content hash, so those are immutable
 *   for a year; everything else (`index.html`) is revalidated on each load, so a new build shows at once.
 * - Content-Security-Policy: scripts and styles from this origin only (no inline script or style, no
 *   eval), WebAssembly compilation for libsodium's lazy chunk ('wasm-unsafe-eval'), connections to
 *   this origin only (the API and its WebSocket), camera and microphone previews from blob: and
 *   media streams, no frames, no plugins, no form posts, no <base>.
 */
import { existsSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import express, { type RequestHandler } from 'express';

/** The folder of content-hashed assets inside the app folder (scripts/build-app.mjs writes it). */
export const APP_ASSETS_DIR = 'assets';
/** A year, the longest `max-age` caches honour, for files whose name changes with their content. */
const IMMUTABLE_MAX_AGE_SECONDS = 365 * 24 * 60 * 60;

export const APP_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob: mediastream:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': APP_CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'x-frame-options': 'DENY',
  'permissions-policy': 'camera=(self), microphone=(self), display-capture=(self), geolocation=(), payment=(), usb=()',
};

/** Fails at start, with the folder named, when `appDir` holds no built app. */
export function checkAppDir(dir: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new TypeError(`createBridge: option "appDir": "${dir}" is not a folder`);
  if (!existsSync(join(dir, 'index.html'))) throw new TypeError(`createBridge: option "appDir": "${dir}" has no index.html (build it: make build)`);
}

/** What the page asks the Bridge before anything else (`GET /app-config.json`), so it never probes a 404. */
export interface AppConfig {
  /** Dev mode is on: `/dev/v1` exists (docs/app.md, "Dev mode"). */
  devMode: boolean;
  /**
   * The media unit listens on loopback (its default) and takes loopback candidates only, so the page
   * offers no others (docs/app.md, "Calls").
   */
  mediaLoopbackOnly: boolean;
}

/** GET and HEAD of the app's files and its config; anything else falls through to the API's 404. */
export function serveApp(dir: string, config: AppConfig): RequestHandler[] {
  const assets = join(dir, APP_ASSETS_DIR) + sep;
  const configJson = JSON.stringify(config);
  const appConfig: RequestHandler = (req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || req.path !== '/app-config.json') return next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    res.setHeader('cache-control', 'no-store');
    res.type('application/json').send(configJson);
  };
  return [
    appConfig,
    express.static(dir, {
      index: 'index.html',
      redirect: false,
      dotfiles: 'ignore',
      etag: true,
      lastModified: false,
      setHeaders: (res, path) => {
        for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
        res.setHeader('cache-control', path.startsWith(assets) ? `public, max-age=${IMMUTABLE_MAX_AGE_SECONDS}, immutable` : 'no-cache');
      },
    }),
  ];
}
