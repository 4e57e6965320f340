// `notify`: the module posts to Slack itself, with the client the deploy core uses
// (../lib/slack.ts); nothing runs in a container and nothing is cached.
import type { Secret } from "@dagger.io/dagger";

import { postToSlack } from "../lib/slack.js";

export async function notifySlack(webhook: Secret, message: string): Promise<string> {
  if (message.trim() === "") {
    throw new Error(
      "--message is empty: pass the text to post, e.g. --message 'CI failed on main'.",
    );
  }
  // The URL is read only here and appears in no output or error.
  const webhookUrl = (await webhook.plaintext()).trim();
  if (!webhookUrl.startsWith("https://")) {
    throw new Error(
      "notify failed: the webhook is not an https:// URL: pass the Slack incoming-webhook URL, e.g. --webhook env://SLACK_WEBHOOK_URL.",
    );
  }
  const outcome = await postToSlack(webhookUrl, message);
  if (!outcome.ok) throw new Error(`notify failed: ${outcome.reason}`);
  return `Slack notified (HTTP ${outcome.status}).\n`;
}
