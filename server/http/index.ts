// Public surface of the HTTP front door.
export { buildApp, type AppServices } from './app.js';
export type { Readiness } from './routes/health.js';
