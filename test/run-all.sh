#!/usr/bin/env bash
# The whole suite: every test file in parallel (two workers), then the rate-measuring files one at
# a time (test/serial.ts). Both always run; the exit status is a failure if either failed.
set -uo pipefail
cd "$(dirname "$0")/.."
npx vitest run --config test/vitest.config.ts "$@"
parallel=$?
npx vitest run --config test/vitest.serial.config.ts "$@"
serial=$?
if [ "$parallel" -ne 0 ] || [ "$serial" -ne 0 ]; then
  echo "test suite failed: parallel files exit $parallel, rate-measuring files exit $serial" >&2
  exit 1
fi
