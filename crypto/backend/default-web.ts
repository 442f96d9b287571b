export { webBackend as defaultBackend } from './web.ts';
