// Public surface of identity. The dev IdP is deliberately not exported here: only the dev
// command imports it (server/dev), so production code cannot start it by accident.
export { createIdentity, type Identity } from './identity.js';
export { createRelyingParty, type RelyingParty } from './oidc.js';
export type { Principal } from './principal.js';
export { createCliLogins, CLI_LOGIN_SECONDS, type CliLogins, type CliLoginView, type CliPoll } from './cli-logins.js';
export { createSshLogins, type SshLogins, type SshLoginAbandoned, type SshLoginStart, type SshLoginView, type SshKey } from './ssh-logins.js';
