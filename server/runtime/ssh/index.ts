// Public surface of runtime/ssh.
export { createSshRuntime, shellQuote } from './runtime.js';
