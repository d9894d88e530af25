import { defineConfig } from 'vitest/config';
import { SERIAL_TEST_FILES } from './serial.js';

// The rate-measuring files (test/serial.ts), one at a time, after the parallel suite.
export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: SERIAL_TEST_FILES,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    poolOptions: { forks: { maxForks: 1, minForks: 1 } },
  },
});
