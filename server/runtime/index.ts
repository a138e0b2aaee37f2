// Public surface of the runtimes.
export type { ConsoleSpec, RunningConsole, Runtime } from './types.js';
export { createDockerRuntime, LABEL_BROKER, type DockerRuntimeOptions } from './docker/index.js';
