// Public surface of the SSH front door.
export { startSshDoor, SSH_ALGORITHMS, type SshDoor, type SshDoorDeps } from './door.js';
