// The CLI surface users must see (`dagger call --help`), function by function. The surface test
// compares this with what the SDK's own scanner reads from dagger/src and with what the module
// registers with the engine. Adding a function to the module means adding it here (and to
// README.md).

/** Types as the CLI shows them: String, Boolean, Integer, Secret, Directory, [String]... */
export interface ExpectedArgument {
  name: string;
  type: string;
  /** Absent when the argument is required. */
  default?: unknown;
  /** Contextual default (Directory/File arguments). */
  defaultPath?: string;
  ignore?: string[];
  /** Optional without a literal default (e.g. `x?: string`). */
  optional?: boolean;
  /** Words the doc string must contain. */
  doc: string;
}

export interface ExpectedFunction {
  /** TypeScript name (the CLI shows it in kebab-case). */
  name: string;
  returns: string;
  /** "never" for anything with side effects. */
  cache?: "never";
  /** Run by `dagger check`. */
  check?: boolean;
  doc: string;
  args: ExpectedArgument[];
}

export const expectedConstructor: ExpectedArgument[] = [
  {
    name: "source",
    type: "Directory",
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
      "**/.env",
    ],
    doc: "repository",
  },
  { name: "nodeImage", type: "String", default: "node:22-alpine", doc: "Node.js image" },
  { name: "mysqlImage", type: "String", default: "mysql:8.4", doc: "MySQL image" },
  { name: "nginxImage", type: "String", default: "nginx:1.27-alpine", doc: "NGINX_IMAGE" },
  { name: "backendPath", type: "String", default: "backend", doc: "backend's npm workspace" },
  { name: "frontendPath", type: "String", default: "frontend", doc: "frontend's npm workspace" },
  {
    name: "testImage",
    type: "String",
    default: "node:22-bookworm-slim",
    doc: "Debian-based Node.js image",
  },
];

/** The backend tests' overrides for machines where Prisma's schema engine cannot be downloaded. */
const testOverrides: ExpectedArgument[] = [
  { name: "migrateCommand", type: "[String]", default: [], doc: "Migration command" },
  { name: "driftCheckCommand", type: "[String]", default: [], doc: "Drift check" },
];

const imageArgs: ExpectedArgument[] = [
  { name: "gitCommit", type: "String", default: "unknown", doc: "Commit" },
  { name: "appVersion", type: "String", default: "dev", doc: "Version" },
  { name: "sourceUrl", type: "String", default: "", doc: "Repository URL" },
];

export const expectedPipelineFunctions: ExpectedFunction[] = [
  { name: "lint", returns: "String", check: true, doc: "Lint and typecheck", args: [] },
  { name: "test", returns: "String", check: true, doc: "MySQL service", args: testOverrides },
  { name: "testBackend", returns: "String", doc: "drift", args: testOverrides },
  { name: "testFrontend", returns: "String", doc: "Frontend tests", args: [] },
  { name: "backendImage", returns: "Container", doc: "backend image", args: imageArgs },
  { name: "frontendImage", returns: "Container", doc: "frontend image", args: imageArgs },
  { name: "build", returns: "Directory", doc: "backend.tar and frontend.tar", args: imageArgs },
  {
    name: "publish",
    returns: "String",
    cache: "never",
    doc: "digest references",
    args: [
      { name: "repository", type: "String", doc: "OWNER/NAME" },
      { name: "username", type: "String", doc: "user name" },
      { name: "password", type: "Secret", doc: "env://GITHUB_TOKEN" },
      { name: "tag", type: "String", doc: "commit SHA" },
      { name: "registry", type: "String", default: "ghcr.io", doc: "Registry host" },
      { name: "extraTags", type: "[String]", default: [], doc: "Moving tags" },
      { name: "gitCommit", type: "String", default: "", doc: "defaults to the tag" },
      { name: "appVersion", type: "String", default: "", doc: "defaults to the tag" },
      { name: "sourceUrl", type: "String", default: "", doc: "Repository URL" },
    ],
  },
  {
    name: "serve",
    returns: "Service",
    doc: "serve up --ports 8080:80",
    args: [{ name: "migrateCommand", type: "[String]", default: [], doc: "Migration command" }],
  },
  {
    name: "ci",
    returns: "String",
    doc: "lint, test and build",
    args: [
      { name: "gitCommit", type: "String", default: "unknown", doc: "Commit" },
      { name: "appVersion", type: "String", default: "dev", doc: "Version" },
      { name: "sourceUrl", type: "String", default: "", doc: "publish" },
      ...testOverrides,
    ],
  },
  {
    name: "notify",
    returns: "String",
    cache: "never",
    doc: "Slack",
    args: [
      { name: "webhook", type: "Secret", doc: "env://SLACK_WEBHOOK_URL" },
      { name: "message", type: "String", doc: "message text" },
    ],
  },
  {
    name: "ciSummary",
    returns: "File",
    doc: "GITHUB_STEP_SUMMARY",
    args: [
      { name: "ci", type: "String", default: "", doc: "What ci printed" },
      { name: "ciOutcome", type: "String", default: "", doc: "outcome" },
      { name: "publish", type: "String", default: "", doc: "What publish printed" },
      { name: "publishOutcome", type: "String", default: "", doc: "outcome" },
      { name: "runUrl", type: "String", default: "", doc: "URL of the CI run" },
    ],
  },
];

/** camelCase -> kebab-case, as the CLI spells functions and flags. */
export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

const sshKeyArgs = (doc = "SSH private key of the"): ExpectedArgument[] => [
  { name: "env", type: "String", doc: "Environment name" },
  { name: "sshKey", type: "Secret", doc },
];
const passphrase: ExpectedArgument = {
  name: "sshKeyPassphrase",
  type: "Secret",
  optional: true,
  doc: "passphrase",
};
const releaseArgs: ExpectedArgument[] = [
  { name: "release", type: "String", default: "", doc: "Publish's whole output" },
  { name: "backendImage", type: "String", default: "", doc: "Backend image digest" },
  { name: "frontendImage", type: "String", default: "", doc: "Frontend image digest" },
  { name: "promoteFrom", type: "String", default: "", doc: "read from its own server" },
  { name: "tag", type: "String", default: "", doc: "resolved to digests on the server" },
  { name: "imageRepository", type: "String", default: "", doc: "imageRepository" },
  { name: "dryRun", type: "Boolean", default: false, doc: "change nothing" },
  { name: "approved", type: "Boolean", default: false, doc: "approvalRequired" },
];
const rollbackArgs: ExpectedArgument[] = [
  { name: "backup", type: "String", default: "", doc: "Backup file name" },
  { name: "to", type: "String", default: "", doc: '"previous"' },
  { name: "dryRun", type: "Boolean", default: false, doc: "change nothing" },
];
const logsArgs: ExpectedArgument[] = [
  { name: "lines", type: "Integer", default: 200, doc: "recent lines" },
  { name: "service", type: "String", default: "", doc: "backend, frontend or db" },
];
const slackWebhook: ExpectedArgument = {
  name: "slackWebhook",
  type: "Secret",
  optional: true,
  doc: "Slack incoming-webhook URL",
};
const holder = (doc: string): ExpectedArgument => ({
  name: "holder",
  type: "String",
  default: "",
  doc,
});

/**
 * The deploy functions: `environment` makes the Environment object (the overrides, written once),
 * and the short forms each call one of its methods with the environment file's settings.
 */
export const expectedDeployFunctions: ExpectedFunction[] = [
  {
    name: "environment",
    returns: "Environment",
    doc: "One deploy environment",
    args: [
      { name: "name", type: "String", doc: "deploy/environments/<name>.json" },
      { name: "sshKey", type: "Secret", doc: "ed25519, ECDSA or RSA" },
      passphrase,
      { name: "knownHosts", type: "String", default: "", doc: "replacing the file's knownHosts" },
      { name: "host", type: "String", default: "", doc: "Server host name or address" },
      { name: "sshPort", type: "Integer", default: 0, doc: "SSH port (0: the" },
      { name: "sshUser", type: "String", default: "", doc: "SSH user" },
      { name: "appDir", type: "String", default: "", doc: "App dir on the server" },
      { name: "backupsDir", type: "String", default: "", doc: "Backups dir on the server" },
      { name: "project", type: "String", default: "", doc: "Compose project name" },
      { name: "composeFiles", type: "[String]", default: [], doc: "Compose files" },
      { name: "backendPort", type: "Integer", default: 0, doc: "Published backend port" },
      { name: "frontendPort", type: "Integer", default: 0, doc: "Published frontend port" },
      { name: "httpsPort", type: "Integer", default: 0, doc: "Published HTTPS port" },
      { name: "backendHealthUrl", type: "String", default: "", doc: "Backend health URL" },
      { name: "frontendHealthUrl", type: "String", default: "", doc: "Frontend URL" },
      {
        name: "backupRetention",
        type: "Integer",
        default: 0,
        doc: "Backups of this environment to keep",
      },
      { name: "healthAttempts", type: "Integer", default: 0, doc: "Health-check attempts" },
      { name: "migrateCommand", type: "[String]", default: [], doc: "Migration command" },
      holder("Who operates"),
      { name: "runUrl", type: "String", default: "", doc: "URL of the CI run" },
      slackWebhook,
    ],
  },
  {
    name: "deploy",
    returns: "String",
    cache: "never",
    doc: "Short form of environment --name ENV deploy",
    args: [
      ...sshKeyArgs("file://${HOME}/.ssh/qgo_deploy"),
      ...releaseArgs,
      passphrase,
      holder("Who deploys"),
      slackWebhook,
    ],
  },
  {
    name: "rollback",
    returns: "String",
    cache: "never",
    doc: "Short form of environment --name ENV rollback",
    args: [...sshKeyArgs(), ...rollbackArgs, passphrase, holder("Who rolls back"), slackWebhook],
  },
  {
    name: "backups",
    returns: "String",
    cache: "never",
    doc: "environment --name ENV backups",
    args: [...sshKeyArgs(), passphrase],
  },
  {
    name: "releases",
    returns: "String",
    cache: "never",
    doc: "environment --name ENV releases",
    args: [...sshKeyArgs(), passphrase],
  },
  {
    name: "status",
    returns: "String",
    cache: "never",
    doc: "environment --name ENV status",
    args: [...sshKeyArgs(), passphrase],
  },
  {
    name: "unlock",
    returns: "String",
    cache: "never",
    doc: "environment --name ENV unlock",
    args: [
      ...sshKeyArgs(),
      passphrase,
      holder("Who removes the lock"),
      { name: "force", type: "Boolean", default: false, doc: "running operation's lock" },
    ],
  },
  {
    name: "logs",
    returns: "String",
    cache: "never",
    doc: "environment --name ENV logs",
    args: [...sshKeyArgs(), ...logsArgs, passphrase],
  },
  {
    name: "deploySummary",
    returns: "File",
    cache: "never",
    doc: "environment --name ENV --run-url URL summary",
    args: [
      ...sshKeyArgs(),
      { name: "runUrl", type: "String", default: "", doc: "URL of the CI run" },
      { name: "outcome", type: "String", default: "", doc: "outcome" },
      passphrase,
    ],
  },
];

/** The Environment object's methods: each takes only its own arguments. */
export const expectedEnvironmentFunctions: ExpectedFunction[] = [
  {
    name: "deploy",
    returns: "String",
    cache: "never",
    doc: "Deploy a release over SSH",
    args: [
      ...releaseArgs,
      { name: "registryUsername", type: "String", default: "", doc: "Registry user name" },
      { name: "registryPassword", type: "Secret", optional: true, doc: "--password-stdin" },
      { name: "commit", type: "String", default: "", doc: "Commit being deployed" },
    ],
  },
  { name: "rollback", returns: "String", cache: "never", doc: "Roll back", args: rollbackArgs },
  {
    name: "backups",
    returns: "String",
    cache: "never",
    doc: "backups of this environment",
    args: [],
  },
  { name: "releases", returns: "String", cache: "never", doc: "release history", args: [] },
  { name: "status", returns: "String", cache: "never", doc: "What runs now", args: [] },
  {
    name: "unlock",
    returns: "String",
    cache: "never",
    doc: "Remove the deploy lock",
    args: [{ name: "force", type: "Boolean", default: false, doc: "running operation's lock" }],
  },
  { name: "logs", returns: "String", cache: "never", doc: "recent container logs", args: logsArgs },
  {
    name: "summary",
    returns: "File",
    cache: "never",
    doc: "GITHUB_STEP_SUMMARY",
    args: [{ name: "outcome", type: "String", default: "", doc: "outcome" }],
  },
];

/** Every function of the module. */
export const expectedFunctions: ExpectedFunction[] = [
  ...expectedPipelineFunctions,
  ...expectedDeployFunctions,
];
