// Public surface of broker instances.
export { registerInstance, type BrokerInstance } from './instance.js';
