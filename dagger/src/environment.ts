/**
 * One deploy environment (deploy/environments/<name>.json) as seen by one operator: its
 * settings with the caller's overrides, the SSH key that reaches its server, and who operates.
 * Every method takes only its own arguments: `dagger call environment --name staging
 * --ssh-key env://KEY deploy --release "$RELEASE"`.
 */
import { dag, Directory, File, func, object, Secret } from "@dagger.io/dagger";

import * as deployCore from "./deploy/index.js";

/** The operation's context shared by every method; set by `environment` (or a short form). */
export interface EnvironmentContext {
  sshKeyPassphrase?: Secret;
  holder?: string;
  runUrl?: string;
  slackWebhook?: Secret;
  overrides?: deployCore.EnvironmentOverrides;
}

/** The `environment` function's override flags, as Dagger passes them. */
export interface OverrideFlags {
  knownHosts: string;
  host: string;
  sshPort: number;
  sshUser: string;
  appDir: string;
  backupsDir: string;
  project: string;
  composeFiles: string[];
  backendPort: number;
  frontendPort: number;
  httpsPort: number;
  backendHealthUrl: string;
  frontendHealthUrl: string;
  backupRetention: number;
  healthAttempts: number;
  migrateCommand: string[];
}

/**
 * The overrides the flags set. Dagger arguments need plain defaults, so "", 0 and [] mean
 * "the environment file's value".
 */
export function overridesOf(flags: OverrideFlags): deployCore.EnvironmentOverrides {
  const f = flags;
  return {
    ...(f.knownHosts.trim()
      ? { knownHosts: f.knownHosts.split(/\r?\n/).filter((line) => line.trim() !== "") }
      : {}),
    ...(f.host ? { host: f.host } : {}),
    ...(f.sshPort ? { sshPort: f.sshPort } : {}),
    ...(f.sshUser ? { sshUser: f.sshUser } : {}),
    ...(f.appDir ? { appDir: f.appDir } : {}),
    ...(f.backupsDir ? { backupsDir: f.backupsDir } : {}),
    ...(f.project ? { project: f.project } : {}),
    ...(f.composeFiles.length > 0 ? { composeFiles: f.composeFiles } : {}),
    ports: {
      ...(f.backendPort ? { backend: f.backendPort } : {}),
      ...(f.frontendPort ? { frontend: f.frontendPort } : {}),
      ...(f.httpsPort ? { https: f.httpsPort } : {}),
    },
    healthUrls: {
      ...(f.backendHealthUrl ? { backend: f.backendHealthUrl } : {}),
      ...(f.frontendHealthUrl ? { frontend: f.frontendHealthUrl } : {}),
    },
    ...(f.backupRetention ? { backupRetention: f.backupRetention } : {}),
    ...(f.healthAttempts ? { health: { attempts: f.healthAttempts } } : {}),
    ...(f.migrateCommand.length > 0 ? { migrateCommand: f.migrateCommand } : {}),
  };
}

/**
 * An Environment for `name`. (Not a constructor: Dagger registers an object's constructor, and
 * this object is only ever made by the module's own functions.)
 */
export function environmentOf(
  source: Directory,
  name: string,
  sshKey: Secret,
  context: EnvironmentContext = {},
): Environment {
  return Object.assign(new Environment(), {
    source,
    name,
    sshKey,
    ...(context.sshKeyPassphrase ? { sshKeyPassphrase: context.sshKeyPassphrase } : {}),
    ...(context.slackWebhook ? { slackWebhook: context.slackWebhook } : {}),
    holder: context.holder ?? "",
    runUrl: context.runUrl ?? "",
    overridesJson: JSON.stringify(context.overrides ?? {}),
  });
}

/** A deploy environment and the operator's access to its server. */
@object()
export class Environment {
  source!: Directory;
  name!: string;
  sshKey!: Secret;
  sshKeyPassphrase?: Secret;
  slackWebhook?: Secret;
  holder = "";
  runUrl = "";
  /** The caller's overrides of the environment file, as JSON (object state is plain fields). */
  overridesJson = "{}";

  /**
   * Deploy a release over SSH: lock, preflight, verified backup, upload, pull, migrate with the
   * new backend image, up -d, health checks; an automatic rollback (release and, when migrations
   * ran, database) when anything after the backup fails.
   */
  @func({ cache: "never" })
  async deploy(
    /** Publish's whole output (BACKEND_IMAGE=… and FRONTEND_IMAGE=… lines). */
    release = "",
    /** Backend image digest reference, instead of --release. */
    backendImage = "",
    /** Frontend image digest reference, instead of --release. */
    frontendImage = "",
    /** Deploy exactly the images another environment runs now, read from its own server. */
    promoteFrom = "",
    /** Deploy what a tag names now (e.g. develop), resolved to digests on the server. */
    tag = "",
    /** Where the tag is, e.g. ghcr.io/owner/name (default: the environment file's imageRepository). */
    imageRepository = "",
    /** Print the exact plan (steps and remote commands) and change nothing. */
    dryRun = false,
    /** Confirms the deploy where the environment file sets approvalRequired. */
    approved = false,
    /** Registry user name for docker login on the server. */
    registryUsername = "",
    /** Registry password or token, given to docker login --password-stdin on the server. */
    registryPassword?: Secret,
    /** Commit being deployed (recorded in the lock). */
    commit = "",
  ): Promise<string> {
    const args = {
      release,
      backendImage,
      frontendImage,
      promoteFrom,
      tag,
      imageRepository,
      dryRun,
      approved,
      commit,
    };
    return deployCore.deployFunction(
      this.repo(),
      this.target(),
      args,
      this.operator(registryUsername, registryPassword),
    );
  }

  /**
   * Roll back: to a named backup (database, uploads and the release it belonged to) or to the
   * previous release. A verified backup of the current state comes first.
   */
  @func({ cache: "never" })
  async rollback(
    /** Backup file name of this environment, as listed by backups (no path). */
    backup = "",
    /** "previous": the release that served before the current one. */
    to = "",
    /** Print the plan and change nothing. */
    dryRun = false,
  ): Promise<string> {
    return deployCore.rollbackFunction(
      this.repo(),
      this.target(),
      { backup, to, dryRun },
      this.operator(),
    );
  }

  /** The backups of this environment on its server, newest first, with their sizes. */
  @func({ cache: "never" })
  async backups(): Promise<string> {
    return deployCore.backupsFunction(this.repo(), this.target(), this.operator());
  }

  /** The release history: every deploy and rollback with its result. */
  @func({ cache: "never" })
  async releases(): Promise<string> {
    return deployCore.releasesFunction(this.repo(), this.target(), this.operator());
  }

  /** What runs now, its containers, its health and its deploy lock. */
  @func({ cache: "never" })
  async status(): Promise<string> {
    return deployCore.statusFunction(this.repo(), this.target(), this.operator());
  }

  /**
   * Remove the deploy lock when its holder's SSH connection is gone (a dead run). A running
   * operation's lock stays unless force is set.
   */
  @func({ cache: "never" })
  async unlock(
    /** Also remove a running operation's lock (it then stops before its next step). */
    force = false,
  ): Promise<string> {
    return deployCore.unlockFunction(this.repo(), this.target(), this.operator(), force);
  }

  /** The app's recent container logs, with the server's secrets replaced by ***. */
  @func({ cache: "never" })
  async logs(
    /** How many recent lines per service. */
    lines = 200,
    /** Only this service: backend, frontend or db (empty: all). */
    service = "",
  ): Promise<string> {
    return deployCore.logsFunction(this.repo(), this.target(), { lines, service }, this.operator());
  }

  /**
   * A Markdown job summary of this run's deploy or rollback as the server recorded it (steps with
   * durations, release, backup, automatic rollback and why) and what serves now; the run is the
   * one --run-url names. For GitHub: summary ... export --path "$GITHUB_STEP_SUMMARY".
   */
  @func({ cache: "never" })
  async summary(
    /** The deploy step's outcome, shown when the server recorded nothing for the run. */
    outcome = "",
  ): Promise<File> {
    const markdown = await deployCore.operationSummaryFunction(
      this.repo(),
      this.target(),
      { outcome },
      this.operator(),
    );
    return dag.directory().withNewFile("summary.md", markdown).file("summary.md");
  }

  private target(): deployCore.Target {
    return {
      name: this.name,
      overrides: JSON.parse(this.overridesJson) as deployCore.EnvironmentOverrides,
    };
  }

  /** Reads repository files (environment settings, compose files) from the source directory. */
  private repo(): deployCore.RepoReader {
    return {
      read: (path) => this.source.file(path).contents(),
      list: (dir) =>
        this.source
          .directory(dir)
          .entries()
          .catch(() => []),
    };
  }

  /** The operator; Secrets are read only when the core asks, after every plain argument was checked. */
  private operator(registryUsername = "", registryPassword?: Secret): deployCore.Operator {
    const { sshKey, sshKeyPassphrase, slackWebhook } = this;
    return {
      holder: this.holder,
      runUrl: this.runUrl,
      credentials: async () => {
        // An unset CI secret arrives as an empty value: for the optional ones that means "not given".
        const passphrase = sshKeyPassphrase ? await sshKeyPassphrase.plaintext() : "";
        const webhook = slackWebhook ? (await slackWebhook.plaintext()).trim() : "";
        return {
          privateKey: await sshKey.plaintext(),
          ...(passphrase ? { passphrase } : {}),
          ...(registryPassword ? { registryPassword: await registryPassword.plaintext() } : {}),
          ...(registryUsername ? { registryUsername } : {}),
          ...(webhook ? { slackWebhook: webhook } : {}),
        };
      },
    };
  }
}
