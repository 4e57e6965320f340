// Slack notifications through an incoming webhook. A failed notification never fails a
// deploy: it is logged (without the webhook URL, which is a secret) and the deploy goes on.
import type { LogLine } from "./executor.js";

export async function notifySlack(webhook: string, text: string, log: LogLine): Promise<boolean> {
  try {
    const response = await fetch(webhook.trim(), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) {
      log(`warning: Slack notification answered HTTP ${response.status}`);
      return false;
    }
    log("Slack notified");
    return true;
  } catch (error) {
    log(`warning: Slack notification failed: ${(error as Error).name}`);
    return false;
  }
}
