// Public surface of runtime/docker.
export { LABEL_BROKER, LABEL_SESSION, LABEL_TARGET, createDockerRuntime, type DockerRuntimeOptions } from './runtime.js';
export { resolveImage, type Resolution } from './resolve.js';
