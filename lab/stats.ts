/** Medians and maxima for the benchmarks' tables. */

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export const defined = (values: readonly (number | undefined)[]): number[] => values.filter((value): value is number => value !== undefined);

/** `1.23 s` or `456 ms`. */
export function ms(value: number | undefined): string {
  if (value === undefined) return '-';
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

/** `median / max` of the known values, or `-`. */
export function spread(values: readonly (number | undefined)[]): string {
  const known = defined(values);
  return known.length === 0 ? '-' : `${ms(median(known))} / ${ms(Math.max(...known))}`;
}
