export { nodeBackend as defaultBackend } from './node.ts';
