// Public surface of runtime/docker.
export { LABEL_BROKER, LABEL_SESSION, LABEL_TARGET, createDockerRuntime, resolveImage, type DockerRuntimeOptions } from './runtime.js';
