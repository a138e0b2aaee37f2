// Public surface of runtime/fleet: reaching fleet nodes, and what they need to accept only the broker.
export { connectNode, type ConnectOptions, type NodeConnection } from './connect.js';
export { createFleetPool, fleetKeyId, keyIdWord, type FleetPool, type FleetPoolOptions, type NodeHealth } from './pool.js';
export { nodeConfigFiles, formatFiles, formatPacker, formatTerraform, brokerCidrs, type NodeConfigOptions, type NodeFile } from './node-config.js';
export { mapBounded, NODES_AT_ONCE } from './bounded.js';
export { checkNodeLockdown, judgeLockdown, lockdownScript, requiredLines, sshdTCommand, type LockdownExpectation, type LockdownVerdict } from './lockdown.js';
