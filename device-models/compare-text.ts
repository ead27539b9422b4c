/**
 * Orders strings by their UTF-16 code units, as `Array.prototype.sort` does by default: file names, register
 * kinds, environment variable names and device keys sort the same on every machine. Not `localeCompare`: its
 * first call loads ICU's collation data, 2–2.6 MB of the process's resident memory for ordering ASCII names.
 */
export const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
