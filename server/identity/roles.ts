// Roles from the IdP's groups claim, through the operator's mapping (config.roles).
import type { Role } from '../config/index.js';
import { ROLES } from '../config/index.js';

export function rolesFromGroups(groups: readonly string[], mapping: Readonly<Record<Role, readonly string[]>>): Role[] {
  return ROLES.filter((role) => mapping[role].some((g) => groups.includes(g)));
}

/** The groups claim may be an array of strings or, with some IdPs, one space-separated string. */
export function groupsFromClaims(claims: Record<string, unknown>, claimName: string): string[] | undefined {
  const raw = claims[claimName];
  if (Array.isArray(raw)) return raw.filter((g): g is string => typeof g === 'string' && g.length > 0);
  if (typeof raw === 'string') return raw.split(/\s+/).filter(Boolean);
  return undefined;
}
