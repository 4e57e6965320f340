// A bounded request loop against the box's published ports, as users would send it while an
// operation runs: a fixed rate, a fresh connection per request (no keep-alive hides a gap),
// a short timeout, GETs and POSTs, plain HTTP and HTTPS. What it measures is what the issue
// counts: failed requests and the longest time nothing answered.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

export interface Target {
  name: string;
  port: number;
  path: string;
  method?: "GET" | "POST";
  body?: string;
  /** HTTPS with this CA and server name (SNI). */
  tls?: { ca: string; servername: string };
  /** The status that counts as answered (default 200). */
  expect?: number;
}

export interface Sample {
  target: string;
  at: number;
  ok: boolean;
  detail: string;
}

export interface TrafficReport {
  sent: number;
  failed: Sample[];
  /** Longest time from a failed request to the next answered one, in ms (0 when none failed). */
  longestGapMs: number;
  perTarget: Record<string, { sent: number; failed: number }>;
}

/** One request on its own connection; resolves, never rejects. */
function send(target: Target, timeoutMs: number): Promise<Sample> {
  const at = Date.now();
  return new Promise((resolve) => {
    const done = (ok: boolean, detail: string) => resolve({ target: target.name, at, ok, detail });
    const options = {
      host: "127.0.0.1",
      port: target.port,
      path: target.path,
      method: target.method ?? "GET",
      agent: false as const,
      headers: {
        connection: "close",
        ...(target.body ? { "content-type": "application/json" } : {}),
      },
      timeout: timeoutMs,
      ...(target.tls ? { ca: target.tls.ca, servername: target.tls.servername } : {}),
    };
    const req = (target.tls ? httpsRequest : httpRequest)(options, (response) => {
      response.resume();
      response.on("end", () => {
        const status = response.statusCode ?? 0;
        done(status === (target.expect ?? 200), `HTTP ${status}`);
      });
      response.on("error", (error) => done(false, error.message));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (error) => done(false, error.message));
    req.end(target.body);
  });
}

/**
 * Sends `ratePerSecond` requests a second, in turn to each target, until `during` settles,
 * then waits for the last answers. Returns what `during` returned and the traffic's report.
 */
export async function trafficDuring<T>(
  during: Promise<T>,
  targets: Target[],
  { ratePerSecond = 20, timeoutMs = 1000 } = {},
): Promise<{ result: T; traffic: TrafficReport }> {
  const pending: Promise<Sample>[] = [];
  let stop = false;
  const loop = (async () => {
    const interval = 1000 / ratePerSecond;
    const start = Date.now();
    for (let i = 0; !stop; i += 1) {
      pending.push(send(targets[i % targets.length]!, timeoutMs));
      const next = start + (i + 1) * interval;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
    }
  })();
  let result: T;
  try {
    result = await during;
  } finally {
    stop = true;
    await loop;
  }
  const samples = (await Promise.all(pending)).sort((a, b) => a.at - b.at);
  return { result, traffic: reportOf(samples) };
}

export function reportOf(samples: Sample[]): TrafficReport {
  const perTarget: TrafficReport["perTarget"] = {};
  let longestGapMs = 0;
  let firstFailure: number | undefined;
  for (const sample of samples) {
    const counts = (perTarget[sample.target] ??= { sent: 0, failed: 0 });
    counts.sent += 1;
    if (!sample.ok) {
      counts.failed += 1;
      firstFailure ??= sample.at;
    } else if (firstFailure !== undefined) {
      longestGapMs = Math.max(longestGapMs, sample.at - firstFailure);
      firstFailure = undefined;
    }
  }
  const last = samples.at(-1);
  if (firstFailure !== undefined && last)
    longestGapMs = Math.max(longestGapMs, last.at - firstFailure);
  return { sent: samples.length, failed: samples.filter((s) => !s.ok), longestGapMs, perTarget };
}

/** One line for logs and the README: sent, failed per target, longest gap. */
export function describeTraffic(traffic: TrafficReport): string {
  const targets = Object.entries(traffic.perTarget)
    .map(([name, { sent, failed }]) => `${name} ${failed}/${sent}`)
    .join(", ");
  return `${traffic.failed.length} of ${traffic.sent} requests failed (${targets}); longest gap ${traffic.longestGapMs} ms`;
}
