// Deep Object.freeze for values loaded once and shared (config, catalogue). Imports nothing.
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
