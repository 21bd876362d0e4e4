/**
 * The layers of src/, lowest first: a module may import its own folder and the folders listed before it,
 * never one listed after it (an upward import), and no import may close a cycle. `npm run lint` checks it
 * (test/unit/layers.test.ts proves the check fails on a cycle and on an upward import).
 */
const LAYERS = [
  'src/errors.ts',
  'src/base',
  'src/net',
  'src/kube',
  'src/providers',
  // The fleet ledger: records in a store, and the pure revocation gate.
  'src/fleet',
  'src/issuers',
  'src/credentials',
  'src/config',
  'src/policy',
  // Credentials minted at the source around a run: when to issue, when to revoke (the fleet's gate too).
  'src/issuance',
  // The per-namespace unit: what the batch and the scheduler both call. It knows nothing of either.
  'src/rotation/unit',
  // The batch run around the unit: targets prepared, namespaces streamed, results tallied, the run lock.
  'src/rotation/batch',
  // The first pod of a new namespace: the webhook provisions through the unit, the policy follows targets.
  'src/admission',
  // Pods admitted without our secret, deleted once their ServiceAccount can give it (after a run, or fed by
  // the scheduler's pod watch).
  'src/healer',
  'src/observability',
  'src/doctor',
  'src/scheduler',
  'src/cli',
];

/** Upward imports that exist today and are on their way out, each named exactly (none now). */
const KNOWN_UPWARD = [];

const esc = (s) => s.replace(/[.]/g, '[.]');
const at = (layer) => (layer.endsWith('.ts') ? `^${esc(layer)}$` : `^${esc(layer)}/`);

module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'An import cycle: the layers cannot be read bottom-up.',
      from: {},
      to: { circular: true },
    },
    ...LAYERS.slice(0, -1).map((layer, i) => ({
      name: `layer:${layer.replace(/^src\//, '')}`,
      severity: 'error',
      comment: `${layer} imports a layer above it (.dependency-cruiser.cjs lists the layers, lowest first).`,
      from: { path: at(layer), pathNot: KNOWN_UPWARD },
      to: { path: LAYERS.slice(i + 1).map(at) },
    })),
    {
      name: 'not-in-a-layer',
      severity: 'error',
      comment:
        'Every module of src/ belongs to a layer: add its folder to LAYERS in .dependency-cruiser.cjs.',
      from: { path: '^src/', pathNot: LAYERS.map(at) },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^node_modules' },
    // Type-only imports count: a type from above is as much a dependency on the layer above.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
