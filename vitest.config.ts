import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{crypto,bridge,endpoint,protocol,examples,bench,test}/**/*.test.ts'],
    // Real Bridges, sockets and child processes: generous per-test limits, no fake timers by default.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
