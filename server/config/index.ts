// Public surface of configuration: the only code that reads configuration values.
export { loadConfig, loadDatabaseConfig, loadEngineConfig, loadRecordingStoreConfig, ROLES, type RecordingStoreConfig, type Config, type Mode, type Role } from './load.js';
export { loadVerifierKeys, loadSshCaPublicKeys } from './keys.js';
export { isLoopback, parseDuration, type Env } from './reader.js';
