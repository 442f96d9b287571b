import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{crypto,bridge,endpoint,protocol,examples,bench,test,app,scripts}/**/*.test.ts'],
    // Real Bridges, sockets and child processes: generous per-test limits, no fake timers by default.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The Endpoint's default trust store persists; tests keep it in a temporary folder (test/trust-dir.ts).
    globalSetup: ['test/trust-dir.ts'],
  },
});
