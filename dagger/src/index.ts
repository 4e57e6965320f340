/**
 * QGO Cargo's CI/CD pipeline: lint, test, build, publish and serve the app, the same on a laptop and in CI.
 *
 * Every function runs in containers on the Dagger engine, so `dagger call ci` on a laptop runs
 * exactly what CI runs. The repository is read from the checkout that holds dagger.json.
 */
import {
  argument,
  check,
  Container,
  dag,
  Directory,
  File,
  func,
  object,
  Secret,
  Service,
} from "@dagger.io/dagger";

import { publishTarget } from "./lib/image-refs.js";
import { seconds } from "./lib/output.js";
import { renderCiSummary } from "./lib/ci-summary.js";
import { appImage, markdownFile } from "./pipeline/containers.js";
import { backendTests, frontendTests, lintAndTypecheck } from "./pipeline/checks.js";
import { notifySlack } from "./pipeline/notify.js";
import { publishImages } from "./pipeline/publish.js";
import { wholeStack } from "./pipeline/serve.js";

import { Environment, environmentOf, overridesOf, type EnvironmentContext } from "./environment.js";

/** The pipeline of one repository checkout; the constructor arguments fit it to another app layout. */
@object()
export class Qgo {
  source: Directory;
  nodeImage: string;
  testImage: string;
  mysqlImage: string;
  nginxImage: string;
  backendPath: string;
  frontendPath: string;

  constructor(
    /**
     * The repository to work on. Defaults to the checkout that holds dagger.json, without
     * node_modules, build output, .git, uploads, logs and every .env file.
     */
    @argument({
      defaultPath: "/",
      ignore: [
        "**/node_modules",
        "**/dist",
        ".git",
        "**/uploads",
        "**/logs",
        "**/coverage",
        ".test-results",
        "**/*.tar",
        // Saved arguments (Dagger local defaults) and app secrets never enter a container.
        "**/.env",
      ],
    })
    source: Directory,
    /** Node.js image of the app images (NODE_IMAGE build argument). */
    nodeImage = "node:22-alpine",
    /** MySQL image of the database service the backend tests and serve use. */
    mysqlImage = "mysql:8.4",
    /** nginx image for the frontend image's NGINX_IMAGE build argument. */
    nginxImage = "nginx:1.27-alpine",
    /** The backend's npm workspace directory (holds its Dockerfile and prisma/). */
    backendPath = "backend",
    /** The frontend's npm workspace directory (holds its Dockerfile). */
    frontendPath = "frontend",
    /**
     * Debian-based Node.js image lint and the tests run in: the frontend's nginx tests run
     * Debian's nginx-light, which the test container installs with apt-get.
     */
    testImage = "node:22-bookworm-slim",
  ) {
    this.source = source;
    this.nodeImage = nodeImage;
    this.mysqlImage = mysqlImage;
    this.nginxImage = nginxImage;
    this.backendPath = backendPath;
    this.frontendPath = frontendPath;
    this.testImage = testImage;
  }

  /**
   * Lint and typecheck the whole repository (npm run lint, npm run typecheck).
   */
  @func()
  @check()
  async lint(): Promise<string> {
    return lintAndTypecheck(this);
  }

  /**
   * Run the backend tests against a MySQL service (after migrations and a drift check) and the
   * frontend tests. Returns a summary; fails with the failing tests' output.
   */
  @func()
  @check()
  async test(
    /** Migration command run in the backend workspace (default: npx prisma migrate deploy). */
    migrateCommand: string[] = [],
    /** Drift check run after migrating (default: prisma migrate diff ... --exit-code). */
    driftCheckCommand: string[] = [],
  ): Promise<string> {
    const [backend, frontend] = await Promise.all([
      this.testBackend(migrateCommand, driftCheckCommand),
      this.testFrontend(),
    ]);
    return [backend, frontend].join("\n");
  }

  /**
   * Backend tests only: a MySQL service with a health check, prisma migrate deploy, a drift
   * check between schema.prisma and the migrations, then npm test.
   */
  @func()
  async testBackend(
    /**
     * Migration command run in the backend workspace (default: npx prisma migrate deploy).
     * Prisma's CLI downloads its schema engine; where it cannot (offline), e.g.
     * node scripts/apply-migrations.mjs applies the same migrations.
     */
    migrateCommand: string[] = [],
    /**
     * Drift check run after migrating (default: prisma migrate diff from the migrated database
     * to schema.prisma, --exit-code). Offline, e.g. npx vitest run tests/migrations.test.ts.
     */
    driftCheckCommand: string[] = [],
  ): Promise<string> {
    return backendTests(this, migrateCommand, driftCheckCommand);
  }

  /**
   * Frontend tests only (npm test in the frontend workspace).
   */
  @func()
  async testFrontend(): Promise<string> {
    return frontendTests(this);
  }

  /**
   * The backend image, built from its Dockerfile with the repository as build context.
   * Chainable: backend-image export --path=backend.tar, backend-image terminal.
   */
  @func()
  backendImage(
    /** Commit the image is built from (OCI revision label, GIT_COMMIT). */
    gitCommit = "unknown",
    /** Version the app reports (OCI version label, APP_VERSION). */
    appVersion = "dev",
    /** Repository URL (OCI source label, SOURCE_URL). */
    sourceUrl = "",
  ): Container {
    return appImage(
      this.source,
      this.backendPath,
      { NODE_IMAGE: this.nodeImage },
      gitCommit,
      appVersion,
      sourceUrl,
    );
  }

  /**
   * The frontend image (static build served by nginx), built from its Dockerfile with the
   * repository as build context. Chainable like backend-image.
   */
  @func()
  frontendImage(
    /** Commit the image is built from (OCI revision label, GIT_COMMIT). */
    gitCommit = "unknown",
    /** Version the app reports (OCI version label, APP_VERSION). */
    appVersion = "dev",
    /** Repository URL (OCI source label, SOURCE_URL). */
    sourceUrl = "",
  ): Container {
    return appImage(
      this.source,
      this.frontendPath,
      { NODE_IMAGE: this.nodeImage, NGINX_IMAGE: this.nginxImage },
      gitCommit,
      appVersion,
      sourceUrl,
    );
  }

  /**
   * Build both images; returns a directory with backend.tar and frontend.tar
   * (build export --path=images).
   */
  @func()
  build(
    /** Commit the images are built from. */
    gitCommit = "unknown",
    /** Version the app reports. */
    appVersion = "dev",
    /** Repository URL for the OCI source label. */
    sourceUrl = "",
  ): Directory {
    return dag
      .directory()
      .withFile("backend.tar", this.backendImage(gitCommit, appVersion, sourceUrl).asTarball())
      .withFile("frontend.tar", this.frontendImage(gitCommit, appVersion, sourceUrl).asTarball());
  }

  /**
   * Push both images to a registry under the commit tag (and any extra tags) and return their
   * immutable digest references as BACKEND_IMAGE=…@sha256:… and FRONTEND_IMAGE=… lines.
   */
  @func({ cache: "never" })
  async publish(
    /** Repository path under the registry, e.g. OWNER/NAME (lower-cased for you). */
    repository: string,
    /** Registry user name. */
    username: string,
    /** Registry password or token, e.g. env://GITHUB_TOKEN. */
    password: Secret,
    /** Immutable tag, normally the commit SHA. */
    tag: string,
    /** Registry host. */
    registry = "ghcr.io",
    /** Moving tags pushed as well, e.g. develop or latest. */
    extraTags: string[] = [],
    /** Commit for the OCI revision label; defaults to the tag. */
    gitCommit = "",
    /** Version the app reports; defaults to the tag. */
    appVersion = "",
    /** Repository URL for the OCI source label. */
    sourceUrl = "",
  ): Promise<string> {
    const commit = gitCommit === "" ? tag : gitCommit;
    const version = appVersion === "" ? tag : appVersion;
    return publishImages(
      {
        backend: this.backendImage(commit, version, sourceUrl),
        frontend: this.frontendImage(commit, version, sourceUrl),
      },
      publishTarget(registry, repository, tag, extraTags),
      username,
      password,
    );
  }

  /**
   * The whole stack as one service: MySQL, the backend (migrated and seeded) and the frontend's
   * nginx on port 80. Run it with: dagger call serve up --ports 8080:80
   */
  @func()
  serve(
    /**
     * Migration command run in the backend image before the seed (default: npx prisma migrate
     * deploy); offline, node scripts/apply-migrations.mjs applies the same migrations.
     */
    migrateCommand: string[] = [],
  ): Service {
    return wholeStack(this.mysqlImage, this.backendImage(), this.frontendImage(), migrateCommand);
  }

  /**
   * What CI runs: lint, test and build, in parallel. Returns the combined summary. Given the
   * same --git-commit, --app-version and --source-url as publish, it builds exactly the images
   * publish pushes (identical chains, which the engine evaluates once).
   */
  @func()
  async ci(
    /** Commit the images are built from. */
    gitCommit = "unknown",
    /** Version the app reports. */
    appVersion = "dev",
    /** Repository URL for the OCI source label (pass publish's, so both build the same images). */
    sourceUrl = "",
    /** Migration command of the backend tests (see test-backend). */
    migrateCommand: string[] = [],
    /** Drift check of the backend tests (see test-backend). */
    driftCheckCommand: string[] = [],
  ): Promise<string> {
    const built = async () => {
      const started = Date.now();
      await Promise.all([
        this.backendImage(gitCommit, appVersion, sourceUrl).sync(),
        this.frontendImage(gitCommit, appVersion, sourceUrl).sync(),
      ]);
      return `build: ok (${seconds(Date.now() - started)})\n  backend image\n  frontend image`;
    };
    const results = await Promise.all([
      this.lint(),
      this.test(migrateCommand, driftCheckCommand),
      built(),
    ]);
    return results.join("\n");
  }

  /**
   * Post a message to Slack through an incoming webhook. Never cached: every call posts.
   */
  @func({ cache: "never" })
  async notify(
    /** Slack incoming-webhook URL, e.g. env://SLACK_WEBHOOK_URL. */
    webhook: Secret,
    /** The message text. */
    message: string,
  ): Promise<string> {
    return notifySlack(webhook, message);
  }

  // --- Deploys over SSH: the Environment object (./environment.ts) and its short forms -------

  /**
   * One deploy environment (any deploy/environments/<name>.json) with the caller's overrides and
   * SSH access; chain an operation: environment --name staging --ssh-key env://KEY deploy --release ...
   */
  @func()
  environment(
    /** Environment name: a file deploy/environments/<name>.json (e.g. staging, production, qa). */
    name: string,
    /** SSH private key of the deploy user (ed25519, ECDSA or RSA), e.g. env://DEPLOY_SSH_KEY. */
    sshKey: Secret,
    /** The key's passphrase, when it is encrypted. */
    sshKeyPassphrase?: Secret,
    /** The server's known_hosts line(s), replacing the file's knownHosts. */
    knownHosts = "",
    /** Server host name or address (overrides the environment file). */
    host = "",
    /** SSH port (0: the environment's). */
    sshPort = 0,
    /** SSH user. */
    sshUser = "",
    /** App dir on the server. */
    appDir = "",
    /** Backups dir on the server. */
    backupsDir = "",
    /** Compose project name. */
    project = "",
    /** Compose files (in deploy/ and in the app dir). */
    composeFiles: string[] = [],
    /** Published backend port (0: the environment's). */
    backendPort = 0,
    /** Published frontend port (0: the environment's). */
    frontendPort = 0,
    /** Published HTTPS port (0: the environment's). */
    httpsPort = 0,
    /** Backend health URL as seen on the server. */
    backendHealthUrl = "",
    /** Frontend URL as seen on the server. */
    frontendHealthUrl = "",
    /** Backups of this environment to keep (0: the environment's). */
    backupRetention = 0,
    /** Health-check attempts per URL (0: the environment's). */
    healthAttempts = 0,
    /** Migration command run in the new backend image (default: npx prisma migrate deploy). */
    migrateCommand: string[] = [],
    /** Who operates (recorded in the lock, the history and the audit log), e.g. the GitHub actor. */
    holder = "",
    /** URL of the CI run (recorded in the lock and the history; summary shows this run). */
    runUrl = "",
    /** Slack incoming-webhook URL for the outcome of deploys and rollbacks. */
    slackWebhook?: Secret,
  ): Environment {
    const overrides = overridesOf({
      knownHosts,
      host,
      sshPort,
      sshUser,
      appDir,
      backupsDir,
      project,
      composeFiles,
      backendPort,
      frontendPort,
      httpsPort,
      backendHealthUrl,
      frontendHealthUrl,
      backupRetention,
      healthAttempts,
      migrateCommand,
    });
    return environmentOf(this.source, name, sshKey, {
      sshKeyPassphrase,
      holder,
      runUrl,
      slackWebhook,
      overrides,
    });
  }

  /** Short form of environment --name ENV deploy: deploy a release (see Environment.deploy). */
  @func({ cache: "never" })
  async deploy(
    /** Environment name (deploy/environments/<env>.json). */
    env: string,
    /** SSH private key of the deploy user, e.g. file://${HOME}/.ssh/qgo_deploy. */
    sshKey: Secret,
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
    /** Print the exact plan and change nothing. */
    dryRun = false,
    /** Confirms the deploy where the environment file sets approvalRequired. */
    approved = false,
    /** The SSH key's passphrase, when it is encrypted. */
    sshKeyPassphrase?: Secret,
    /** Who deploys (recorded in the lock and the history). */
    holder = "",
    /** Slack incoming-webhook URL for the outcome. */
    slackWebhook?: Secret,
  ): Promise<string> {
    return this.operatorOf(env, sshKey, { sshKeyPassphrase, holder, slackWebhook }).deploy(
      release,
      backendImage,
      frontendImage,
      promoteFrom,
      tag,
      imageRepository,
      dryRun,
      approved,
    );
  }

  /** Short form of environment --name ENV rollback: to a backup or the previous release. */
  @func({ cache: "never" })
  async rollback(
    /** Environment name. */
    env: string,
    /** SSH private key of the deploy user. */
    sshKey: Secret,
    /** Backup file name of this environment, as listed by backups (no path). */
    backup = "",
    /** "previous": the release that served before the current one. */
    to = "",
    /** Print the plan and change nothing. */
    dryRun = false,
    /** The SSH key's passphrase, when it is encrypted. */
    sshKeyPassphrase?: Secret,
    /** Who rolls back (recorded in the lock and the history). */
    holder = "",
    /** Slack incoming-webhook URL for the outcome. */
    slackWebhook?: Secret,
  ): Promise<string> {
    return this.operatorOf(env, sshKey, { sshKeyPassphrase, holder, slackWebhook }).rollback(
      backup,
      to,
      dryRun,
    );
  }

  /** Short form of environment --name ENV backups: the backups on the server, newest first. */
  @func({ cache: "never" })
  async backups(
    /** Environment name. */
    env: string,
    /** SSH private key of the deploy user. */
    sshKey: Secret,
    /** The SSH key's passphrase, when it is encrypted. */
    sshKeyPassphrase?: Secret,
  ): Promise<string> {
    return this.operatorOf(env, sshKey, { sshKeyPassphrase }).backups();
  }

  /** Short form of environment --name ENV releases: every deploy and rollback with its result. */
  @func({ cache: "never" })
  async releases(
    /** Environment name. */
    env: string,
    /** SSH private key of the deploy user. */
    sshKey: Secret,
    /** The SSH key's passphrase, when it is encrypted. */
    sshKeyPassphrase?: Secret,
  ): Promise<string> {
    return this.operatorOf(env, sshKey, { sshKeyPassphrase }).releases();
  }

  /** Short form of environment --name ENV status: what runs, its health and its deploy lock. */
  @func({ cache: "never" })
  async status(
    /** Environment name. */
    env: string,
    /** SSH private key of the deploy user. */
    sshKey: Secret,
    /** The SSH key's passphrase, when it is encrypted. */
    sshKeyPassphrase?: Secret,
  ): Promise<string> {
    return this.operatorOf(env, sshKey, { sshKeyPassphrase }).status();
  }

  /** Short form of environment --name ENV unlock: remove a dead run's deploy lock. */
  @func({ cache: "never" })
  async unlock(
    /** Environment name. */
    env: string,
    /** SSH private key of the deploy user. */
    sshKey: Secret,
    /** The SSH key's passphrase, when it is encrypted. */
    sshKeyPassphrase?: Secret,
    /** Who removes the lock (recorded in the audit log). */
    holder = "",
    /** Also remove a running operation's lock (it then stops before its next step). */
    force = false,
  ): Promise<string> {
    return this.operatorOf(env, sshKey, { sshKeyPassphrase, holder }).unlock(force);
  }

  /** Short form of environment --name ENV logs: the app's recent container logs, redacted. */
  @func({ cache: "never" })
  async logs(
    /** Environment name. */
    env: string,
    /** SSH private key of the deploy user. */
    sshKey: Secret,
    /** How many recent lines per service. */
    lines = 200,
    /** Only this service: backend, frontend or db (empty: all). */
    service = "",
    /** The SSH key's passphrase, when it is encrypted. */
    sshKeyPassphrase?: Secret,
  ): Promise<string> {
    return this.operatorOf(env, sshKey, { sshKeyPassphrase }).logs(lines, service);
  }

  /** Short form of environment --name ENV --run-url URL summary: a deploy run's job summary. */
  @func({ cache: "never" })
  async deploySummary(
    /** Environment name. */
    env: string,
    /** SSH private key of the deploy user. */
    sshKey: Secret,
    /** URL of the CI run whose operations to show (empty: the last one recorded). */
    runUrl = "",
    /** The deploy step's outcome, shown when the server recorded nothing for the run. */
    outcome = "",
    /** The SSH key's passphrase, when it is encrypted. */
    sshKeyPassphrase?: Secret,
  ): Promise<File> {
    return this.operatorOf(env, sshKey, { sshKeyPassphrase, runUrl }).summary(outcome);
  }

  /**
   * A Markdown job summary of a CI run from what ci and publish printed and their step outcomes:
   * checks with durations and test counts, published digests and tags. For GitHub:
   * ci-summary ... export --path "$GITHUB_STEP_SUMMARY".
   */
  @func()
  ciSummary(
    /** What ci printed (empty when it failed). */
    ci = "",
    /** The ci step's outcome: success, failure, cancelled or skipped. */
    ciOutcome = "",
    /** What publish printed (empty when it did not run). */
    publish = "",
    /** The publish step's outcome (skipped on pull requests). */
    publishOutcome = "",
    /** URL of the CI run, where the logs are. */
    runUrl = "",
  ): File {
    return markdownFile(renderCiSummary({ ci, ciOutcome, publish, publishOutcome, runUrl }));
  }

  /** An Environment with only its file's settings: what the short forms use. */
  private operatorOf(env: string, sshKey: Secret, context: EnvironmentContext): Environment {
    return environmentOf(this.source, env, sshKey, context);
  }
}
