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
    ],
    doc: "repository",
  },
  { name: "nodeImage", type: "String", default: "node:22-alpine", doc: "Node.js image" },
  { name: "mysqlImage", type: "String", default: "mysql:8.4", doc: "MySQL image" },
  { name: "nginxImage", type: "String", default: "nginx:1.27-alpine", doc: "NGINX_IMAGE" },
  { name: "backendPath", type: "String", default: "backend", doc: "backend's npm workspace" },
  { name: "frontendPath", type: "String", default: "frontend", doc: "frontend's npm workspace" },
  { name: "testImage", type: "String", default: "node:22-bookworm-slim", doc: "Debian-based Node.js image" },
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

/** The deploy functions (wrappers over src/deploy/, issue 5), as the scanner reads them today. */
export const expectedDeployFunctions: ExpectedFunction[] = [
  {
    name: "deploy",
    returns: "String",
    cache: "never",
    doc: "Deploy a release to a",
    args: [
      { name: "env", type: "String", doc: "Environment: staging or" },
      { name: "sshKey", type: "Secret", doc: "SSH private key of the" },
      { name: "knownHosts", type: "String", doc: "The server's known_hosts" },
      { name: "backendImage", type: "String", default: "", doc: "Backend image digest" },
      { name: "frontendImage", type: "String", default: "", doc: "Frontend image digest" },
      { name: "release", type: "String", default: "", doc: "Publish's whole output" },
      { name: "promoteFrom", type: "String", default: "", doc: "Deploy exactly the images" },
      { name: "dryRun", type: "Boolean", default: false, doc: "Print the exact plan" },
      { name: "approved", type: "Boolean", default: false, doc: "Confirms the deploy where" },
      {
        name: "registryPassword",
        type: "Secret",
        optional: true,
        doc: "Registry password or",
      },
      {
        name: "registryUsername",
        type: "String",
        default: "",
        doc: "Registry user name for",
      },
      { name: "slackWebhook", type: "Secret", optional: true, doc: "Slack incoming-webhook URL" },
      { name: "holder", type: "String", default: "", doc: "Who deploys (recorded in" },
      { name: "commit", type: "String", default: "", doc: "Commit being deployed" },
      { name: "runUrl", type: "String", default: "", doc: "URL of the CI run" },
      { name: "host", type: "String", default: "", doc: "Server host name or" },
      { name: "sshPort", type: "Integer", default: 0, doc: "SSH port (0: the" },
      { name: "sshUser", type: "String", default: "", doc: "SSH user." },
      { name: "appDir", type: "String", default: "", doc: "App dir on the server." },
      { name: "backupsDir", type: "String", default: "", doc: "Backups dir on the server." },
      { name: "project", type: "String", default: "", doc: "Compose project name." },
      { name: "composeFiles", type: "[String]", default: [], doc: "Compose files (in deploy/" },
      { name: "backendPort", type: "Integer", default: 0, doc: "Published backend port (0:" },
      { name: "frontendPort", type: "Integer", default: 0, doc: "Published frontend port" },
      { name: "httpsPort", type: "Integer", default: 0, doc: "Published HTTPS port (0:" },
      {
        name: "backendHealthUrl",
        type: "String",
        default: "",
        doc: "Backend health URL as seen",
      },
      {
        name: "frontendHealthUrl",
        type: "String",
        default: "",
        doc: "Frontend URL as seen on",
      },
      { name: "backupRetention", type: "Integer", default: 0, doc: "Backups of this" },
      { name: "healthAttempts", type: "Integer", default: 0, doc: "Health-check attempts per" },
      {
        name: "migrateCommand",
        type: "[String]",
        default: [],
        doc: "Migration command run in",
      },
    ],
  },
  {
    name: "rollback",
    returns: "String",
    cache: "never",
    doc: "Roll an environment back:",
    args: [
      { name: "env", type: "String", doc: "Environment: staging or" },
      { name: "sshKey", type: "Secret", doc: "SSH private key of the" },
      { name: "knownHosts", type: "String", doc: "The server's known_hosts" },
      { name: "backup", type: "String", default: "", doc: "Backup file name of this" },
      { name: "to", type: "String", default: "", doc: '"previous": the release that' },
      { name: "dryRun", type: "Boolean", default: false, doc: "Print the plan and change" },
      { name: "slackWebhook", type: "Secret", optional: true, doc: "Slack incoming-webhook URL" },
      { name: "holder", type: "String", default: "", doc: "Who rolls back (recorded" },
      { name: "runUrl", type: "String", default: "", doc: "URL of the CI run." },
      { name: "host", type: "String", default: "", doc: "Server host name or" },
      { name: "sshPort", type: "Integer", default: 0, doc: "SSH port (0: the" },
      { name: "sshUser", type: "String", default: "", doc: "SSH user." },
      { name: "appDir", type: "String", default: "", doc: "App dir on the server." },
      { name: "backupsDir", type: "String", default: "", doc: "Backups dir on the server." },
      { name: "project", type: "String", default: "", doc: "Compose project name." },
      { name: "backendPort", type: "Integer", default: 0, doc: "Published backend port (0:" },
      { name: "frontendPort", type: "Integer", default: 0, doc: "Published frontend port" },
      { name: "httpsPort", type: "Integer", default: 0, doc: "Published HTTPS port (0:" },
      { name: "backupRetention", type: "Integer", default: 0, doc: "Backups of this" },
      { name: "healthAttempts", type: "Integer", default: 0, doc: "Health-check attempts per" },
    ],
  },
  {
    name: "backups",
    returns: "String",
    cache: "never",
    doc: "List the backups of an",
    args: [
      { name: "env", type: "String", doc: "Environment: staging or" },
      { name: "sshKey", type: "Secret", doc: "SSH private key of the" },
      { name: "knownHosts", type: "String", doc: "The server's known_hosts" },
      { name: "host", type: "String", default: "", doc: "Server host name or address." },
      { name: "sshPort", type: "Integer", default: 0, doc: "SSH port (0: the" },
      { name: "backupsDir", type: "String", default: "", doc: "Backups dir on the server." },
    ],
  },
  {
    name: "releases",
    returns: "String",
    cache: "never",
    doc: "The release history of an",
    args: [
      { name: "env", type: "String", doc: "Environment: staging or" },
      { name: "sshKey", type: "Secret", doc: "SSH private key of the" },
      { name: "knownHosts", type: "String", doc: "The server's known_hosts" },
      { name: "host", type: "String", default: "", doc: "Server host name or address." },
      { name: "sshPort", type: "Integer", default: 0, doc: "SSH port (0: the" },
      { name: "appDir", type: "String", default: "", doc: "App dir on the server." },
    ],
  },
  {
    name: "status",
    returns: "String",
    cache: "never",
    doc: "What an environment runs",
    args: [
      { name: "env", type: "String", doc: "Environment: staging or" },
      { name: "sshKey", type: "Secret", doc: "SSH private key of the" },
      { name: "knownHosts", type: "String", doc: "The server's known_hosts" },
      { name: "host", type: "String", default: "", doc: "Server host name or address." },
      { name: "sshPort", type: "Integer", default: 0, doc: "SSH port (0: the" },
      { name: "appDir", type: "String", default: "", doc: "App dir on the server." },
      { name: "project", type: "String", default: "", doc: "Compose project name." },
      { name: "backendPort", type: "Integer", default: 0, doc: "Published backend port (0:" },
      { name: "frontendPort", type: "Integer", default: 0, doc: "Published frontend port" },
    ],
  },
  {
    name: "unlock",
    returns: "String",
    cache: "never",
    doc: "Remove an environment's",
    args: [
      { name: "env", type: "String", doc: "Environment: staging or" },
      { name: "sshKey", type: "Secret", doc: "SSH private key of the" },
      { name: "knownHosts", type: "String", doc: "The server's known_hosts" },
      { name: "host", type: "String", default: "", doc: "Server host name or address." },
      { name: "sshPort", type: "Integer", default: 0, doc: "SSH port (0: the" },
      { name: "appDir", type: "String", default: "", doc: "App dir on the server." },
      { name: "holder", type: "String", default: "", doc: "audit log" },
    ],
  },
  {
    name: "deploySummary",
    returns: "File",
    cache: "never",
    doc: "GITHUB_STEP_SUMMARY",
    args: [
      { name: "env", type: "String", doc: "Environment: staging or" },
      { name: "sshKey", type: "Secret", doc: "SSH private key of the" },
      { name: "knownHosts", type: "String", doc: "The server's known_hosts" },
      { name: "runUrl", type: "String", default: "", doc: "URL of the CI run" },
      { name: "outcome", type: "String", default: "", doc: "outcome" },
      { name: "host", type: "String", default: "", doc: "Server host name or address." },
      { name: "sshPort", type: "Integer", default: 0, doc: "SSH port (0: the" },
      { name: "appDir", type: "String", default: "", doc: "App dir on the server." },
      { name: "project", type: "String", default: "", doc: "Compose project name." },
    ],
  },
];

/** Every function of the module. */
export const expectedFunctions: ExpectedFunction[] = [
  ...expectedPipelineFunctions,
  ...expectedDeployFunctions,
];
