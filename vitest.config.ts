import { defineConfig } from 'vitest/config';

/**
 * Integration files that need the stack to themselves: they bound reaction and settle times, time lock
 * expiries or a failed login's penalty, or read the API server's audit log for every request of a
 * `regcred-rotator` user agent (another rotator's requests would count).
 */
const QUIET = [
  'test/integration/scheduler-watch.test.ts',
  'test/integration/operate.test.ts',
  'test/integration/stuck-watch.test.ts',
  'test/integration/request-metrics.test.ts',
  'test/integration/harbor-fidelity.test.ts',
  'test/integration/rotation.test.ts',
];

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        // Against the real stack; files run one after another because several time the scheduler's
        // reactions and lock expiries, which a second file's CLI start-ups on two cores would stretch.
        // `npm test` runs this project beside the node suite, and the quiet files below after both.
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: QUIET,
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'integration-quiet',
          include: QUIET,
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        // Against the stack's node (kubelet + containerd): real image pulls. One file at a time: some
        // restart the kubelet with another pull-credential policy.
        test: {
          name: 'node',
          include: ['test/node/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'reliability',
          include: ['test/reliability/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
