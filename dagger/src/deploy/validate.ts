// Input validation, before any connection: bad input changes nothing, and every message names
// the problem and the fix.
import * as commands from "./commands/index.js";
import type { ReleaseFile, ReleaseImages } from "./commands/index.js";
import { DeployConfigError, type EnvironmentSettings } from "./environments.js";
import { checkPrivateKey } from "./keys.js";
import { keysForHost } from "./known-hosts.js";
import type { DeployRequest } from "./release-to-deploy.js";
import type { Credentials } from "./operation.js";

export function validateBackupName(name: string, env: EnvironmentSettings): void {
  if (name.includes("/") || name.includes("\\") || name.includes("..") || name.trim() !== name) {
    throw new DeployConfigError(
      `Bad backup name "${name}": give only the file name (no path parts), ` +
        `e.g. backup_${env.name}_20260101_120000.tar.gz from \`backups --env ${env.name}\`. Nothing was changed.`,
    );
  }
  const match = commands.BACKUP_NAME.exec(name);
  if (!match) {
    throw new DeployConfigError(
      `Bad backup name "${name}": expected backup_${env.name}_<YYYYMMDD_HHMMSS>.tar.gz ` +
        `(see \`backups --env ${env.name}\`). Nothing was changed.`,
    );
  }
  if (match[1] !== env.name) {
    throw new DeployConfigError(
      `Backup ${name} belongs to ${match[1]}, not ${env.name}: a rollback only restores ` +
        `backups of its own environment. Nothing was changed.`,
    );
  }
}

export function validateCredentials(credentials: Credentials, env: EnvironmentSettings): void {
  checkPrivateKey(credentials.privateKey, credentials.passphrase);
  if (env.knownHosts.every((line) => line.trim() === "")) {
    throw new DeployConfigError(
      `Missing known_hosts for ${env.name}: without the server's verified host key line no connection is made. ` +
        `Add it to knownHosts in deploy/environments/${env.name}.json or pass --known-hosts ` +
        `(get it with ssh-keyscan -p ${env.sshPort} ${env.host || "HOST"} and check its fingerprint out of band). Nothing was changed.`,
    );
  }
  // A usable line for the host, as the handshake will look it up (skipped lines explained).
  if (env.host) keysForHost(env.knownHosts.join("\n"), env.host, env.sshPort);
  if (credentials.registryPassword !== undefined && credentials.registryPassword.trim() === "") {
    throw new DeployConfigError(
      `Missing secret: --registry-password was given but is empty. Nothing was changed.`,
    );
  }
  if (
    credentials.slackWebhook !== undefined &&
    !/^https?:\/\/\S+$/.test(credentials.slackWebhook.trim())
  ) {
    throw new DeployConfigError(`--slack-webhook must be an http(s) URL. Nothing was changed.`);
  }
}

export function validateReleaseFiles(
  files: ReleaseFile[],
  env: EnvironmentSettings,
): ReleaseFile[] {
  return env.composeFiles.map((name) => {
    const file = files.find((f) => f.name === name);
    if (!file || file.content.trim() === "") {
      throw new DeployConfigError(
        `Compose file ${name} (listed in composeFiles of ${env.name}) was not found in deploy/. Nothing was changed.`,
      );
    }
    return file;
  });
}

export function validateImages(images: ReleaseImages): void {
  for (const [flag, ref] of [
    ["--backend-image", images.backendImage],
    ["--frontend-image", images.frontendImage],
  ] as const) {
    if (!commands.isDigestRef(ref)) {
      throw new DeployConfigError(
        `${flag} "${ref}" is not a digest reference (name@sha256:<64 hex>): releases are pinned ` +
          `by digest; pass what \`publish\` printed. Nothing was changed.`,
      );
    }
  }
}

/** What a deploy needs to be given: one way to name the release, labels that are plain, the approval. */
export function validateDeployRequest(
  request: Omit<DeployRequest, "releaseFiles">,
  credentials: Credentials,
): void {
  const { env } = request;
  validateCredentials(credentials, env);
  const given =
    Number(Boolean(request.backendImage || request.frontendImage)) +
    Number(Boolean(request.promoteFrom)) +
    Number(Boolean(request.tag));
  if (given > 1) {
    throw new DeployConfigError(
      `Name the release one way: --release (or --backend-image and --frontend-image), --promote-from or --tag, not several. Nothing was changed.`,
    );
  }
  if (
    given === 0 ||
    (!request.promoteFrom && !request.tag && (!request.backendImage || !request.frontendImage))
  ) {
    throw new DeployConfigError(
      `Missing --backend-image and/or --frontend-image (digest references from \`publish\`), or use --release, --promote-from staging or --tag develop. Nothing was changed.`,
    );
  }
  if (request.tag) {
    if (!commands.isImageTag(request.tag.tag)) {
      throw new DeployConfigError(
        `--tag "${request.tag.tag.slice(0, 80)}" is not an image tag (letters, digits, _ . -). Nothing was changed.`,
      );
    }
    if (!commands.isImageRepository(request.tag.repository)) {
      throw new DeployConfigError(
        `--image-repository "${request.tag.repository.slice(0, 80)}" is not an image repository such as ghcr.io/owner/name ` +
          `(set imageRepository in deploy/environments/${env.name}.json or pass --image-repository). Nothing was changed.`,
      );
    }
  }
  if (request.promoteFrom && request.promoteFrom.name === env.name) {
    throw new DeployConfigError(
      `--promote-from must name another environment than ${env.name}. Nothing was changed.`,
    );
  }
  for (const [flag, value] of [
    ["--version", request.version],
    ["--commit", request.commit],
  ] as const) {
    if (value !== undefined && !commands.isLabelValue(value)) {
      throw new DeployConfigError(
        `${flag} ${JSON.stringify(value)} may only hold letters, digits and . _ + -, starting with a letter or digit. Nothing was changed.`,
      );
    }
  }
  if (env.approvalRequired && !request.approved && !request.dryRun) {
    throw new DeployConfigError(
      `${env.name} requires an approval: pass --approved. CI passes it only when a person dispatches ` +
        `the deploy workflow (Actions > deploy > Run workflow), never for a push. Nothing was changed.`,
    );
  }
}
