// Public surface of bundle.
export { buildBundle, type BundleEvents } from './build.js';
export { readTar, tarStream } from './tar.js';
export { playerHtml } from './player.js';
