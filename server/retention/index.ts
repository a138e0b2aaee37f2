// Public surface of retention: what is kept, for how long, and legal holds.
export { createRetention, SHORT_LIVED_KEEP_DAYS, type Retention } from './retention.js';
