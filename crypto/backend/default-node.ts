// The default is node:crypto on the calling thread; `bulkBackend` adds the bulk thread (bulk-thread.ts),
// which callers choose per stream (the Endpoint does when its process carries real-time tracks).
export { nodeInlineBackend as defaultBackend, nodeBackend as bulkBackend } from './node.ts';
