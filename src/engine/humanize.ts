/**
 * docker's human phrases for durations and container status ("Up 3 minutes").
 * @module
 */

export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 1) return "Less than a second";
  if (s === 1) return "1 second";
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return "About a minute";
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return "About an hour";
  if (h < 48) return `${h} hours`;
  const d = Math.round(s / 86400);
  if (d < 14) return `${d} days`;
  if (d < 60) return `${Math.round(d / 7)} weeks`;
  if (d < 730) return `${Math.round(d / 30)} months`;
  return `${Math.round(d / 365)} years`;
}

export function statusText(
  st: { status: string; startedAt: string; finishedAt: string; exitCode: number },
  now = Date.now(),
): string {
  switch (st.status) {
    case "running":
      return `Up ${humanDuration((now - Date.parse(st.startedAt)) / 1000)}`;
    case "exited":
      return `Exited (${st.exitCode}) ${
        humanDuration((now - Date.parse(st.finishedAt)) / 1000)
      } ago`;
    case "created":
      return "Created";
    case "removing":
      return "Removal In Progress";
    case "dead":
      return "Dead";
    default:
      return st.status;
  }
}
