// The one Slack client: a post to an incoming webhook. Both `notify` and the deploy core's
// outcome messages use it. The webhook URL is a secret (its path is the credential), so no
// outcome, error or log line this returns contains it.

export type SlackOutcome = { ok: true; status: number } | { ok: false; reason: string };

export async function postToSlack(
  webhook: string,
  text: string,
  timeoutMs = 15_000,
): Promise<SlackOutcome> {
  let url: URL;
  try {
    url = new URL(webhook.trim());
  } catch {
    return { ok: false, reason: "the webhook is not a URL" };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return { ok: false, reason: "the webhook is not an http(s) URL" };
  }
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) {
      const said = (await response.text()).slice(0, 200);
      return { ok: false, reason: `Slack answered HTTP ${response.status}: ${said}` };
    }
    return { ok: true, status: response.status };
  } catch (error) {
    // fetch's own message names no URL; its cause says why (ECONNREFUSED, a certificate...).
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (error as Error).message;
    return {
      ok: false,
      reason: `${(error as Error).name}: ${why.replaceAll(url.href, "<webhook>")}`,
    };
  }
}
