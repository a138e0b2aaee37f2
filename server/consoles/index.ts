// Public surface of the console lifecycle.
export { createConsoleService, type ConsoleService, type ConsoleServiceDeps, type LiveSession } from './service.js';
export { ConsoleSession, type ConsoleClient, type ConsoleObserver, type EndInfo } from './session.js';
export type { Door } from './open.js';
export type { Recovered } from './recover.js';
export { END_CODES, endedBy, endExitStatus, endMessage, isQuietInput, QUIET_INPUT_CHARS, type EndCode, type EndReason } from './end-reasons.js';
export { createFleetView, type FleetView, type FleetNodeView } from './fleet.js';
