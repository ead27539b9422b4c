/**
 * Sets an own, enumerable key of a twin map (or any map keyed by twin key) as Object.fromEntries and spreads
 * define them, for maps built key by key: `__proto__` (a valid twin key) stays a plain key instead of
 * setting the prototype.
 */
export function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}
