import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    pool: 'forks',
    // Test files run side by side: the embedded model's threads would stall each other.
    env: { MASE_LOCAL_THREADS: '1' },
  },
});
