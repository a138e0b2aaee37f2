// Public surface of the target catalogue.
export { loadCatalogFile, parseCatalog, targetNodes, type Catalog, type LoadOptions } from './load.js';
export { openCatalogStore, type CatalogStore } from './store.js';
export { isPinnedByDigest, type FleetNode, type Target } from './schema.js';
