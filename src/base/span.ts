/**
 * A length of time as a status line gives it: "45 s", "12 min", "5.5 h", "3.2 d". One format for every
 * "behind for", "acknowledged … ago" and deadline a fleet reports, whether the deadline is a day (people) or
 * seconds (tests).
 */
export function span(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 48 * 3600) return `${Math.round(s / 360) / 10} h`;
  return `${Math.round(s / 8640) / 10} d`;
}
