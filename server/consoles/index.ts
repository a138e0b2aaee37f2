// Public surface of the console lifecycle.
export { createConsoleService, type ConsoleService, type ConsoleServiceDeps } from './service.js';
export { ConsoleSession, type ConsoleClient, type EndInfo } from './session.js';
