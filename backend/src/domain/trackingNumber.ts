// Tracking numbers look like QGO-20261127-7KQ2M9XA: a prefix, the creation date and 8 random
// characters from an alphabet without look-alikes (no 0/O, 1/I/L).
import { randomInt } from "node:crypto";

const ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";

export const TRACKING_NUMBER_PATTERN = /^[A-Z0-9][A-Z0-9-]{5,31}$/;

export function generateTrackingNumber(now: Date = new Date()): string {
  const date = now.toISOString().slice(0, 10).replaceAll("-", "");
  let suffix = "";
  for (let i = 0; i < 8; i += 1) suffix += ALPHABET[randomInt(ALPHABET.length)];
  return `QGO-${date}-${suffix}`;
}
