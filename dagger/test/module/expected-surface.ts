// The CLI surface users must see (`dagger call --help`), function by function. The surface test
// compares this with what the SDK's own scanner reads from dagger/src and with what the module
// registers with the engine. Adding a function to the module means adding it here (and to
// docs/dagger-functions.md).

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
    ignore: ["**/node_modules", "**/dist", ".git", "**/uploads", "**/logs", "**/coverage", ".test-results", "**/*.tar"],
    doc: "repository",
  },
  { name: "nodeImage", type: "String", default: "node:22-alpine", doc: "Node.js image" },
  { name: "mysqlImage", type: "String", default: "mysql:8.4", doc: "MySQL image" },
  { name: "nginxImage", type: "String", default: "nginx:1.27-alpine", doc: "NGINX_IMAGE" },
  { name: "backendPath", type: "String", default: "backend", doc: "backend's npm workspace" },
  { name: "frontendPath", type: "String", default: "frontend", doc: "frontend's npm workspace" },
];

const imageArgs: ExpectedArgument[] = [
  { name: "gitCommit", type: "String", default: "unknown", doc: "Commit" },
  { name: "appVersion", type: "String", default: "dev", doc: "Version" },
  { name: "sourceUrl", type: "String", default: "", doc: "Repository URL" },
];

export const expectedFunctions: ExpectedFunction[] = [
  { name: "lint", returns: "String", check: true, doc: "Lint and typecheck", args: [] },
  { name: "test", returns: "String", check: true, doc: "MySQL service", args: [] },
  { name: "testBackend", returns: "String", doc: "drift", args: [] },
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
  { name: "serve", returns: "Service", doc: "serve up --ports 8080:80", args: [] },
  {
    name: "ci",
    returns: "String",
    doc: "lint, test and build",
    args: [
      { name: "gitCommit", type: "String", default: "unknown", doc: "Commit" },
      { name: "appVersion", type: "String", default: "dev", doc: "Version" },
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
];

/** camelCase -> kebab-case, as the CLI spells functions and flags. */
export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}
