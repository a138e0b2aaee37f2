export { createMetrics, type ConsoleLevels, type Metrics } from './registry.js';
