import { defineConfig } from 'vitest/config';
import { SERIAL_TEST_FILES } from './serial.js';

export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/**/*.test.ts'],
    // rate measurements run alone afterwards (test/serial.ts, test/vitest.serial.config.ts)
    exclude: ['**/node_modules/**', ...SERIAL_TEST_FILES],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Kernel tests create namespaces, veths and pins with unique names, so files may run in
    // parallel; two workers match the machine's two cores.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
