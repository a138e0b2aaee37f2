// Public surface of the console lifecycle.
export { createConsoleService, type ConsoleService, type ConsoleServiceDeps, type LiveSession, type SearchQuery, type SearchResult } from './service.js';
export { ConsoleSession, type ConsoleClient, type ConsoleObserver, type EndInfo } from './session.js';
