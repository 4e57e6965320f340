// The one Slack client: a post to an incoming webhook. Both `notify` and the deploy core's
// outcome messages use it. The webhook URL is a secret (its path is the credential), so no
// outcome, error or log line this returns contains it. The text can carry a server's words
// (an error, a record), so it is made printable and bounded before it is sent.
import { printable } from "./printable.js";

/** The most characters of text a post carries (Slack itself truncates long messages). */
export const SLACK_TEXT_CAP = 3000;

/** The text as posted: printable (lines kept), at most SLACK_TEXT_CAP characters. */
export function slackText(text: string): string {
  const clean = printable(text);
  if (clean.length <= SLACK_TEXT_CAP) return clean;
  let cut = clean.slice(0, SLACK_TEXT_CAP - 1);
  // Not half an emoji: a lone surrogate is no character.
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

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
      body: JSON.stringify({ text: slackText(text) }),
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
