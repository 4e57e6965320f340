// What a deploy puts on a server: the request as the caller gives it, and the release it
// becomes (id, backup name, images, release.env, registry login). The images come from the
// caller, from a tag resolved on the server that pulls them, or from what another environment
// runs now (read on its own server). Its history entry and success record are written here too.
import * as commands from "./commands/index.js";
import type { ReleaseFile, ReleaseImages, ReleaseRecord, RemoteCommand } from "./commands/index.js";
import type { EnvironmentSettings } from "./environments.js";
import { keyValues, now, parseRecord, type Credentials, type Session } from "./operation.js";
import type { Findings } from "./deploy-findings.js";
import { validateImages } from "./validate.js";

export interface DeployRequest {
  env: EnvironmentSettings;
  /** The compose files of the repository's deploy/ directory (names as in env.composeFiles). */
  releaseFiles: ReleaseFile[];
  backendImage?: string;
  frontendImage?: string;
  /** Deploy what this environment runs now (its recorded release) instead of image refs. */
  promoteFrom?: EnvironmentSettings;
  /** Deploy what a tag names now (e.g. develop), resolved to digests on the server. */
  tag?: { repository: string; tag: string };
  /** Version/commit of the release; read from the backend image's OCI labels when absent. */
  version?: string;
  commit?: string;
  dryRun?: boolean;
  /** Environments with approvalRequired deploy only when this is set (CI: the gated job). */
  approved?: boolean;
}

/** One release on its way to one environment: everything the runbook's commands are built from. */
export interface Release {
  env: EnvironmentSettings;
  id: string;
  backup: string;
  files: ReleaseFile[];
  images: ReleaseImages;
  /** docker login on the server for the pull (logged out after it), when a password is given. */
  login?: commands.RegistryLogin;
}

/** The images to deploy: the given digests, or exactly those the source environment runs now. */
export async function imagesToDeploy(
  session: Session,
  request: DeployRequest,
): Promise<{ images: ReleaseImages; labels: { version?: string; commit?: string } }> {
  const given = { version: request.version, commit: request.commit };
  if (request.tag) {
    // The server that will pull the images resolves the tag, logged in as for the pull.
    const { repository, tag } = request.tag;
    await session.open();
    const resolve = commands.resolveTag(repository, tag, loginOf(session.credentials));
    const resolved = keyValues((await session.run(resolve)).stdout);
    const images = {
      backendImage: resolved.get("backend") ?? "",
      frontendImage: resolved.get("frontend") ?? "",
    };
    session.log(`tag ${tag} of ${repository} is ${images.backendImage}, ${images.frontendImage}`);
    validateImages(images);
    return { images, labels: given };
  }
  if (!request.promoteFrom) {
    const images = { backendImage: request.backendImage!, frontendImage: request.frontendImage! };
    validateImages(images);
    return { images, labels: given };
  }
  // Promotion reads the source on its own server, checked against its own known_hosts.
  const source = request.promoteFrom;
  const reader = await session.connect(source);
  try {
    const current = await reader.run(commands.readCurrentRelease(source));
    if (current.stdout.trim() === "none") {
      throw session.fail(
        `Cannot promote from ${source.name}: it runs no recorded release. Nothing was changed.`,
      );
    }
    const record = parseRecord(current.stdout.trim(), `${source.name}'s current release`);
    const images = { backendImage: record.backendImage, frontendImage: record.frontendImage };
    session.log(
      `promoting ${source.name}'s release ${record.id} (version ${record.version || "?"}): ${images.backendImage}, ${images.frontendImage}`,
    );
    validateImages(images);
    return {
      images,
      labels: {
        version: given.version ?? (record.version || undefined),
        commit: given.commit ?? (record.commit || undefined),
      },
    };
  } finally {
    session.absorb(reader);
    reader.close();
  }
}

export function releaseOf(
  env: EnvironmentSettings,
  id: string,
  files: ReleaseFile[],
  images: ReleaseImages,
  credentials: Credentials,
): Release {
  const login = loginOf(credentials);
  const backup = commands.backupName(env.name, new Date());
  return {
    env,
    id,
    backup,
    files,
    images,
    ...(login ? { login } : {}),
  };
}

/** The registry login the server's pulls use, when a registry password is given. */
export function loginOf(credentials: Credentials): commands.RegistryLogin | undefined {
  const { registryPassword, registryUsername } = credentials;
  return registryPassword
    ? { username: registryUsername ?? "deploy", password: registryPassword }
    : undefined;
}

/** What the rehearsal runs: the release's backend image with the environment's migrate command. */
export function rehearsalOf(env: EnvironmentSettings, images: ReleaseImages): commands.Rehearsal {
  return {
    backendImage: images.backendImage,
    migrateCommand: env.migrateCommand,
    migrationsDir: env.migrationsDir,
  };
}

/** The history entry's fields every outcome of this release's deploy records. */
export function entryOf(session: Session, release: Release) {
  const { caller } = session;
  return {
    time: now(),
    env: release.env.name,
    action: "deploy" as const,
    release: release.id,
    ...release.images,
    holder: caller.holder,
    runUrl: caller.runUrl,
  };
}

/** The success record: the history entry, the audit line and the release's release.json. */
export function successRecord(
  session: Session,
  release: Release,
  state: Pick<Findings, "version" | "commit" | "proof" | "rehearsal">,
  time: string,
): RemoteCommand {
  const record: ReleaseRecord = {
    id: release.id,
    env: release.env.name,
    ...release.images,
    version: state.version ?? "",
    commit: state.commit ?? "",
    createdAt: time,
  };
  const entry = session.entry({
    ...entryOf(session, release),
    time,
    result: "success",
    serving: release.id,
    version: state.version,
    commit: state.commit,
    backup: release.backup,
    ...(state.proof ? { proof: state.proof } : {}),
    ...(state.rehearsal ? { rehearsal: state.rehearsal } : {}),
  });
  return commands.recordRelease(release.env, entry, record);
}
