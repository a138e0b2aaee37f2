// Public surface of the runtimes.
export type { ConsoleSpec, ContainerSpec, NodeAddress, RunningConsole, Runtime } from './types.js';
export { createDockerRuntime, LABEL_BROKER, resolveImage, type DockerRuntimeOptions } from './docker/index.js';
export { createSshRuntime } from './ssh/index.js';
export {
  checkNodeLockdown,
  createFleetPool,
  keyIdWord,
  mapBounded,
  NODES_AT_ONCE,
  type FleetPool,
  type LockdownVerdict,
  type NodeHealth,
} from './fleet/index.js';
