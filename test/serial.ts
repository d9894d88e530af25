// Test files that measure rates against a configured limit (iperf3 for 10 s against a bandwidth
// limit): on a 2-core machine a second test file running beside them steals the CPU the shapers and
// iperf3 need, and the measured rate says more about the neighbour than about podwire. They run
// after the parallel suite, one file at a time (test/vitest.serial.config.ts; `npm test` runs both).
export const SERIAL_TEST_FILES = ['test/cni/bandwidth.test.ts', 'test/lab/bandwidth.test.ts'];
