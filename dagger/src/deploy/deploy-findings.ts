// What a deploy learns before it changes anything, each from a step's output: the release's
// labels and how many migrations are pending (the pull), whether its backup restores (the
// restore proof) and how its migrations ran on the restored copy (the rehearsal).
import * as commands from "./commands/index.js";
import { environmentFilePath, type EnvironmentSettings } from "./environments.js";
import { keyValues, type Session } from "./operation.js";
import { unexpectedExit, type Step } from "./runbook.js";

export interface Findings {
  version?: string;
  commit?: string;
  /** The restore proof left its copy up for the rehearsal. */
  copyKept: boolean;
  /** The proof's and the rehearsal's verdicts, for the summary and the history. */
  proof?: string;
  rehearsal?: string;
  /** Whether the release brings migrations (undefined: not known, so assumed). */
  migrationsPending?: boolean;
}

type Read = NonNullable<Step<Findings>["read"]>;

/** The pull: labels the caller did not give, and what the live database lacks. */
export function readPull(env: EnvironmentSettings): Read {
  return ({ stdout }, state) => {
    readLabels(stdout, state);
    // "unknown" (no migrations dir in the image) counts as pending.
    const [, pending, shipped] = /^pending=(\d+) shipped=(\d+)$/m.exec(stdout) ?? [];
    if (pending === undefined) return;
    state.migrationsPending = pending !== "0";
    if (!state.migrationsPending && env.rehearseMigrations)
      state.rehearsal = `skipped: no migration pending (${shipped} in the image, all applied)`;
  };
}

/** Labels the caller did not give come from the backend image; odd ones are dropped. */
function readLabels(stdout: string, state: Findings): void {
  const pulled = keyValues(stdout);
  state.version ??= pulled.get("version") || undefined;
  state.commit ??= pulled.get("commit") || undefined;
  if (state.version !== undefined && !commands.isLabelValue(state.version))
    state.version = undefined;
  if (state.commit !== undefined && !commands.isLabelValue(state.commit)) state.commit = undefined;
}

/**
 * The restore proof. With a migration pending (or not known) a backup that does not restore
 * stops the deploy before anything changes. With none pending the proof ran beside the switch:
 * the deploy changed no data, so such a backup is a loud note, not a failure.
 */
export function readProof(session: Session, env: EnvironmentSettings, backup: string): Read {
  return ({ stdout, stderr, exitCode }, state) => {
    if (exitCode !== 0) {
      if (state.migrationsPending !== false)
        throw unexpectedExit({ stdout, stderr, exitCode }, "restore-proof");
      const why = /restore proof failed: (.*)$/m.exec(stderr)?.[1] ?? `exit ${exitCode}`;
      state.proof = `NOT proven restorable: ${why}`;
      session.note(
        `The backup ${backup} did not prove restorable (${why})` +
          `${exitCode === commands.PROOF_NO_VERDICT_EXIT ? "" : `; it is kept as ${backup}.unproven`}. ` +
          `No migration was pending, so this deploy changed no data and went on; ` +
          `the next deploy takes and proves a new backup.`,
      );
      return;
    }
    state.copyKept = keyValues(stdout).has("copy");
    const figures = /^restore_proof=ok (.*)$/m.exec(stdout)?.[1];
    state.proof = figures
      ? `restore proven: ${figures}`
      : "nothing to prove: no database before this deploy";
    session.log(`${backup}: ${state.proof}`);
    if (env.rehearseMigrations && /^restore_proof=none/m.test(stdout))
      state.rehearsal = "nothing to rehearse on: no database before this deploy";
  };
}

/** The rehearsal's verdict, and a warning for a migration the serving release may not survive. */
export function readRehearsal(session: Session): Read {
  return ({ stdout }, state) => {
    const skipped = stdout.match(/^rehearsal=skipped: (.*)$/m)?.[1];
    state.migrationsPending = skipped === undefined;
    state.rehearsal = skipped
      ? `skipped: ${skipped}`
      : `passed on the restored copy${stdout.match(/^rehearsal=passed( in .*)$/m)?.[1] ?? ""}`;
    session.log(`migration rehearsal: ${state.rehearsal}`);
    const contract = [...stdout.matchAll(/^contract_warning=(.*)$/gm)].map((m) => m[1]);
    if (contract.length > 0)
      session.note(
        `A pending migration drops or renames a table or column while the previous release ` +
          `still serves (until the switch), so that release may fail meanwhile: ` +
          `${contract.map((line) => commands.shown(line ?? "")).join("; ")}. ` +
          `Make it backward compatible (expand, then contract in a later release: README, Migrations without downtime).`,
      );
  };
}

/** Days from now until an ISO date-time ("2027-03-04 10:00:00"), rounded down; NaN if unreadable. */
export function daysUntil(expires: string, now = Date.now()): number {
  const at = Date.parse(`${expires.replace(" ", "T")}Z`);
  return Math.floor((at - now) / 86_400_000);
}

/**
 * The certificates step: what certbot obtained or why it could not, and how long the
 * certificate lasts. Never fails the deploy; a failure or a near end is a note (summary, Slack).
 */
export function readCertificates(session: Session): Read {
  return ({ stdout }) => {
    const facts = keyValues(stdout);
    const names = facts.get("certificate_names") ?? "";
    const expires = facts.get("certificate_expires") ?? "";
    const days = daysUntil(expires);
    const failed = /^certificate_failed=(.*)$/m.exec(stdout)?.[1];
    const got = facts.get("certificate") ?? "";
    const noImage = /^certificate_image_failed=(.*)$/m.exec(stdout)?.[1];
    const noService = facts.get("certificate_no_service");
    if (noService !== undefined) {
      session.note(
        `HTTPS: ${session.env.name} has tls settings, but its compose files (${noService}) define no certbot service, so no certificate was obtained and nothing renews one; the site serves as before. ` +
          `Add what compose.production.yaml has (the certbot service, the frontend's TLS_DOMAIN and its /etc/letsencrypt and acme-challenge volumes, port 443 on the edge) to them, or remove tls from ${environmentFilePath(session.env.name)}.`,
      );
      return;
    }
    if (noImage !== undefined) {
      const { tls } = session.env;
      session.note(
        `HTTPS: the certbot image ${tls?.certbotImage ?? ""} could not be pulled on the server (${commands.shown(noImage.trim())}), so no certificate was obtained or renewed and the renewal service did not start. ` +
          `HTTPS stays as it was (a certificate already there keeps serving, else plain HTTP). Set tls.certbotImage in ${environmentFilePath(session.env.name)} to an image this server can pull, then deploy again.`,
      );
      return;
    }
    if (failed !== undefined) {
      session.note(
        `HTTPS: certbot could not obtain the certificate (${commands.shown(failed.trim())}). ` +
          (names
            ? `The certificate already there (${names}) keeps serving. `
            : "The site serves plain HTTP. ") +
          "Check that every name's DNS points at this server and that port 80 answers; the next deploy, and the renewal service twice a day, try again.",
      );
    } else {
      session.log(`certificate ${got} for ${names}, expires ${expires} (${days} days)`);
    }
    if (names && Number.isFinite(days) && days < commands.CERTIFICATE_WARNING_DAYS)
      session.note(
        `HTTPS: the certificate for ${names} ends in ${days} days (${expires} UTC). Renewal runs on the server (the certbot service); see its log: docker compose logs certbot.`,
      );
    if (/^renewal=not started$/m.test(stdout))
      session.note(
        "HTTPS: the certificate renewal service (compose service certbot) did not start.",
      );
  };
}
