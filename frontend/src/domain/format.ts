const dateTime = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});

/** Dates are shown in UTC so that every operator sees the same time for an event. */
export function formatDateTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : `${dateTime.format(date)} UTC`;
}

export function formatWeight(weightKg: number | string): string {
  const value = typeof weightKg === "number" ? weightKg : Number.parseFloat(weightKg);
  return Number.isFinite(value)
    ? `${value.toLocaleString("en-GB", { maximumFractionDigits: 2 })} kg`
    : `${weightKg} kg`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
