// The live catalogue: loaded at start, replaced on reload only when the new file is valid,
// and every load (good or bad) leaves its SHA-256 in the audit log.
import type { AuditLog } from '../audit/index.js';
import { isSallyportError, SallyportError } from '../errors.js';
import { loadCatalogFile, type Catalog, type LoadOptions } from './load.js';

export interface CatalogStore {
  current(): Catalog;
  /** Re-reads the file; on failure keeps the current catalogue and returns the error. */
  reload(): Promise<{ ok: true; catalog: Catalog } | { ok: false; error: SallyportError }>;
}

export async function openCatalogStore(path: string, options: LoadOptions, audit: AuditLog): Promise<CatalogStore> {
  const load = async (): Promise<Catalog> => {
    try {
      const catalog = loadCatalogFile(path, options);
      await audit.append({
        actor: 'system',
        action: 'catalog.loaded',
        subject: path,
        details: { path, sha256: catalog.sha256, targets: catalog.targets.length },
      });
      return catalog;
    } catch (err) {
      if (isSallyportError(err, 'CATALOG_INVALID')) {
        await audit.append({
          actor: 'system',
          action: 'catalog.rejected',
          subject: path,
          details: { path, sha256: (err as { sha256?: string }).sha256 ?? null, problems: err.problems.length },
        });
      }
      throw err;
    }
  };

  let catalog = await load();
  return {
    current: () => catalog,
    async reload() {
      try {
        catalog = await load();
        return { ok: true, catalog };
      } catch (err) {
        if (isSallyportError(err)) return { ok: false, error: err };
        return { ok: false, error: new SallyportError('CATALOG_INVALID', String(err), { cause: err }) };
      }
    },
  };
}
