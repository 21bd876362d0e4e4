// What the bundle leaves to node_modules, shared by the build (esbuild's `external`) and the image's prune
// (scripts/prune-runtime.ts): everything else the CLI uses is inside dist/.

/** Packages esbuild leaves external (loaded on demand at run time): the Azure SDKs and pino-pretty. */
export const EXTERNAL = ['@azure/*', 'pino-pretty'];

/**
 * Packages the external ones depend on that Node never loads: @azure/identity's browser build uses
 * @azure/msal-browser; its Node builds (dist/esm, dist/commonjs) never name it. The prune refuses to drop
 * one that a kept file names, so an SDK update that starts using it fails the image build, not a run.
 */
export const NEVER_LOADED = ['@azure/msal-browser'];

/** Inside kept packages: builds for other platforms (chosen by export conditions Node never matches). */
export const OTHER_PLATFORM_DIRS = ['dist/browser', 'dist/react-native', 'dist/workerd'];

/** Files Node never reads at run time: type declarations, and source maps (not enabled in the image). */
export const UNUSED_FILE = /\.(d\.[cm]?ts|map)$/;
