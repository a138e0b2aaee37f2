// Public surface of dev.
export { DEV_CLIENT_ID, DEMO_USERS, startDev, type DevHandle } from './start.js';
export { startDevIdp, type DevIdp, type DevUser, type DevIdpOptions } from './idp.js';
export { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';
export { freePort } from './free-port.js';
