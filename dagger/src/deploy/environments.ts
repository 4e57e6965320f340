// Environment settings are data: every deploy/environments/<name>.json is an environment
// (adding qa.json adds `--env qa`). The file's shape is a zod schema (unknown keys rejected by
// name; deploy/environments/environment.schema.json is generated from it for editors), the
// caller's overrides are merged in, and the result is validated before any connection, so bad
// settings change nothing.
import { z } from "zod";

/** Where the environment files live in the repository. */
export const ENVIRONMENTS_DIR = "deploy/environments";
/** The JSON Schema editors read through each file's "$schema". */
export const ENVIRONMENT_SCHEMA_FILE = "environment.schema.json";
/** Environment names: they become file names, compose project suffixes and backup names. */
export const ENVIRONMENT_NAME = /^[a-z][a-z0-9-]{0,30}$/;

const port = z.number().int().min(1).max(65535);
const positive = z.number().int().min(1);

const healthSchema = z.strictObject({
  attempts: positive.describe(
    "How many times each URL is tried before the release counts as unhealthy.",
  ),
  initialDelaySeconds: positive.describe(
    "First wait between attempts; doubles each time up to maxDelaySeconds.",
  ),
  maxDelaySeconds: positive,
  timeoutSeconds: positive.describe("Time limit of one HTTP request."),
});

/** Let's Encrypt's production ACME directory: what certbot uses unless told otherwise. */
export const LETS_ENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory";

/** A DNS name a certificate can cover: labels of letters, digits and inner hyphens. */
const hostName = z
  .string()
  .regex(
    /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/,
    "must be a host name such as cargo.example.com",
  );

const tlsSchema = z.strictObject({
  domains: z
    .array(hostName)
    .min(1)
    .max(100)
    .describe(
      "Names the certificate covers, e.g. the apex and www; the first names it (live/<first>/) and is the frontend's TLS_DOMAIN.",
    ),
  email: z
    .string()
    .regex(/^[^\s@'"]+@[^\s@'"]+\.[^\s@'"]+$/, "must be an e-mail address")
    .optional()
    .describe(
      "The ACME account's e-mail (Let's Encrypt's expiry notices); none: no account e-mail.",
    ),
  acmeDirectory: z
    .string()
    .regex(/^https:\/\/[^\s'"]+$/, "must be an https:// URL")
    .default(LETS_ENCRYPT_DIRECTORY)
    .describe("The ACME server's directory URL (a test server such as Pebble in tests)."),
  certbotImage: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._/:@-]*$/, "must be an image reference")
    .default("certbot/certbot:v2.11.0")
    .describe("The image certbot runs in on the server."),
});

export type TlsSettings = z.infer<typeof tlsSchema>;

export const DEFAULT_HEALTH = {
  attempts: 12,
  initialDelaySeconds: 2,
  maxDelaySeconds: 10,
  timeoutSeconds: 5,
};

/** One environment file. Omitted fields take the defaults written here. */
export const environmentFileSchema = z.strictObject({
  $schema: z.string().optional().describe("Path of the JSON Schema, for editor completion."),
  "//": z.string().optional().describe("A comment for people; ignored."),
  name: z.string().describe("The environment's name; must equal the file name without .json."),
  host: z
    .string()
    .default("")
    .describe("The server's host name or address (public; --host overrides it)."),
  knownHosts: z
    .array(z.string())
    .default([])
    .describe(
      "The server's known_hosts lines (public keys, checked out of band); --known-hosts overrides them.",
    ),
  sshPort: port.default(22),
  sshUser: z.string().default("root"),
  appDir: z.string().describe("Absolute path of the app dir on the server (compose files, .env)."),
  backupsDir: z.string().default("/root/backups"),
  imageRepository: z
    .string()
    .default("")
    .describe(
      "Where publish pushes, e.g. ghcr.io/owner/name: deploy --tag resolves <it>/backend:<tag>.",
    ),
  composeFiles: z
    .array(z.string())
    .min(1)
    .describe("Compose files, in deploy/ and in the app dir, in order."),
  project: z.string().describe("Docker Compose project name."),
  ports: z.strictObject({ backend: port, frontend: port, https: port.optional() }),
  healthUrls: z
    .strictObject({ backend: z.string(), frontend: z.string() })
    .optional()
    .describe(
      "As seen on the server; default http://127.0.0.1:<port>/health and http://127.0.0.1:<port>/.",
    ),
  backupRetention: positive.default(5).describe("Backups of this environment to keep."),
  releaseRetention: z.number().int().min(2).default(10),
  approvalRequired: z
    .boolean()
    .default(false)
    .describe("Deploys need --approved (CI passes it only when a person dispatches the deploy)."),
  migrateCommand: z.array(z.string().min(1)).min(1).default(["npx", "prisma", "migrate", "deploy"]),
  health: healthSchema.default(DEFAULT_HEALTH),
  minFreeDiskMb: z.number().min(0).default(1024),
  rehearseMigrations: z
    .boolean()
    .default(true)
    .describe(
      "Rehearse a release's pending migrations on a restored copy of the database before the live migration (the report says when it is off).",
    ),
  migrationsDir: z
    .string()
    .default("prisma/migrations")
    .describe(
      "Where the backend image keeps its migrations (relative to its working directory): the rehearsal is skipped only when all of them are applied.",
    ),
  proofMemoryMb: positive
    .default(512)
    .describe(
      "Memory (MB) the server must have available before it starts the throwaway database copy of the restore proof.",
    ),
  tls: tlsSchema
    .optional()
    .describe(
      "HTTPS with Let's Encrypt certificates: each deploy obtains the certificate it lacks (certbot, HTTP-01 through the site's port 80), and the server renews it by itself.",
    ),
});

export type HealthSettings = z.infer<typeof healthSchema>;
type EnvironmentFile = z.infer<typeof environmentFileSchema>;

/** The settings an operation runs with: the file, the caller's overrides, every default filled. */
export type EnvironmentSettings = Omit<EnvironmentFile, "$schema" | "//" | "healthUrls"> & {
  healthUrls: { backend: string; frontend: string };
};

/**
 * Fields a caller may override; nested objects are merged field by field. `tls` replaces the
 * file's whole, and null turns HTTPS off (a server no public name points at, such as a test's).
 */
export type EnvironmentOverrides = Partial<
  Omit<EnvironmentSettings, "ports" | "healthUrls" | "health" | "tls">
> & {
  ports?: Partial<EnvironmentSettings["ports"]>;
  healthUrls?: Partial<EnvironmentSettings["healthUrls"]>;
  health?: Partial<HealthSettings>;
  tls?: z.input<typeof tlsSchema> | null;
};

/** The JSON Schema of an environment file, as committed for editors. */
export function environmentJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(environmentFileSchema, { io: "input" });
}

export class DeployConfigError extends Error {
  override name = "DeployConfigError";
}

export function environmentFilePath(name: string): string {
  return `${ENVIRONMENTS_DIR}/${name}.json`;
}

export function assertEnvironmentName(name: string, known: string[] = []): void {
  if (!ENVIRONMENT_NAME.test(name)) {
    throw new DeployConfigError(
      `Bad environment name "${name.slice(0, 40)}": use lower-case letters, digits and - ` +
        `(a file ${ENVIRONMENTS_DIR}/<name>.json). Nothing was changed.`,
    );
  }
  if (known.length > 0 && !known.includes(name)) {
    throw new DeployConfigError(
      `Unknown environment "${name}". Known environments: ${known.join(", ")}. To add one, ` +
        `add ${environmentFilePath(name)} (copy staging.json and edit it). Nothing was changed.`,
    );
  }
}

function withoutUndefined<T extends object>(value: T | undefined): Partial<T> {
  if (!value) return {};
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A caller's tls settings, checked and completed as the file's are. */
function parseTlsOverride(name: string, tls: z.input<typeof tlsSchema>): TlsSettings {
  const result = tlsSchema.safeParse(tls);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) =>
    describeIssue({ ...issue, path: ["tls", ...issue.path] }),
  );
  throw new DeployConfigError(
    `Environment ${name}: ${problems.join("; ")} (the tls argument). Nothing was changed.`,
  );
}

/** A zod issue in words: the field's path, what is wrong, and the keys that are allowed. */
function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.join(".") || "(the file)";
  if (issue.code === "unrecognized_keys") {
    const where = issue.path.length > 0 ? ` in ${path}` : "";
    return `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}${where} (a typo? the schema is ${ENVIRONMENT_SCHEMA_FILE})`;
  }
  return `${path}: ${issue.message}`;
}

/** Parses and checks the shape of an environment file; throws DeployConfigError naming the field. */
export function parseEnvironmentFile(name: string, fileText: string): EnvironmentFile {
  const file = environmentFilePath(name);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fileText);
  } catch (error) {
    throw new DeployConfigError(
      `${file} is not valid JSON: ${(error as Error).message}. Nothing was changed.`,
    );
  }
  const result = environmentFileSchema.safeParse(parsed);
  if (!result.success) {
    const problems = result.error.issues.map(describeIssue);
    throw new DeployConfigError(`${file}: ${problems.join("; ")}. Nothing was changed.`);
  }
  return result.data;
}

/**
 * Builds the settings of environment `name` from its file's JSON text and the caller's
 * overrides, then validates them. Throws DeployConfigError naming the bad field.
 */
export function resolveEnvironment(
  name: string,
  fileText: string,
  overrides: EnvironmentOverrides = {},
): EnvironmentSettings {
  assertEnvironmentName(name);
  const { healthUrls: fileUrls, ...base } = parseEnvironmentFile(name, fileText);
  // Keys only editors and people read are not settings.
  delete base.$schema;
  delete base["//"];
  const { ports, healthUrls, health, tls, ...flat } = overrides;
  const merged = { ...base, ...withoutUndefined(flat) };
  merged.ports = { ...base.ports, ...withoutUndefined(ports) };
  merged.health = { ...base.health, ...withoutUndefined(health) };
  if (tls === null) delete merged.tls;
  else if (tls !== undefined) merged.tls = parseTlsOverride(name, tls);
  // A URL given wins; otherwise an overridden port moves the default URL along with it.
  const url = (key: "backend" | "frontend", path: string) =>
    healthUrls?.[key] ??
    (ports?.[key] === undefined ? fileUrls?.[key] : undefined) ??
    `http://127.0.0.1:${merged.ports[key]}${path}`;
  const settings: EnvironmentSettings = {
    ...merged,
    healthUrls: { backend: url("backend", "/health"), frontend: url("frontend", "/") },
  };
  validateEnvironment(settings, name);
  return settings;
}

function problem(env: string, field: string, message: string): DeployConfigError {
  return new DeployConfigError(
    `Environment ${env}: ${field} ${message} (set it in ${environmentFilePath(env)} ` +
      `or pass it as an argument). Nothing was changed.`,
  );
}

const positiveInt = (value: unknown): value is number =>
  typeof value === "number" && Number.isInteger(value) && value > 0;
const isPort = (value: unknown): value is number => positiveInt(value) && value <= 65535;
// File names of compose files: plain names in the app dir, no path parts.
const plainFileName = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
// A compose project name as Docker Compose accepts it.
const projectName = /^[a-z0-9][a-z0-9_-]*$/;

/** The rules the merged settings must meet (overrides are plain values, so checked here too). */
export function validateEnvironment(env: EnvironmentSettings, name: string): void {
  if (env.name !== name)
    throw problem(name, "name", `must be "${name}" (the file name), found "${env.name}"`);
  if (typeof env.host !== "string" || env.host.trim() === "") {
    throw problem(name, "host", "is not set: pass --host with the server's name or address");
  }
  if (/[\s@/]/.test(env.host)) throw problem(name, "host", `"${env.host}" is not a host name`);
  if (!isPort(env.sshPort)) throw problem(name, "sshPort", "must be a TCP port number");
  if (typeof env.sshUser !== "string" || !/^[a-z_][a-z0-9_.-]*$/i.test(env.sshUser)) {
    throw problem(name, "sshUser", "must be a user name");
  }
  for (const field of ["appDir", "backupsDir"] as const) {
    const dir = env[field];
    if (typeof dir !== "string" || !dir.startsWith("/") || dir.split("/").includes("..")) {
      throw problem(name, field, "must be an absolute path without '..'");
    }
    if (/[\n\r\0]/.test(dir)) throw problem(name, field, "must not contain control characters");
    if (dir.replace(/\/+$/, "") === "") throw problem(name, field, "must not be /");
  }
  if (
    !Array.isArray(env.knownHosts) ||
    !env.knownHosts.every((line) => typeof line === "string" && !/[\r\n]/.test(line))
  ) {
    throw problem(name, "knownHosts", "must list known_hosts lines, one per entry");
  }
  if (
    !Array.isArray(env.composeFiles) ||
    env.composeFiles.length === 0 ||
    !env.composeFiles.every((f) => typeof f === "string" && plainFileName.test(f))
  ) {
    throw problem(name, "composeFiles", "must list plain file names such as compose.yaml");
  }
  if (typeof env.project !== "string" || !projectName.test(env.project)) {
    throw problem(name, "project", "must be a compose project name (a-z, 0-9, _ and -)");
  }
  if (!isPort(env.ports?.backend) || !isPort(env.ports?.frontend)) {
    throw problem(name, "ports", "must give backend and frontend TCP ports");
  }
  if (env.ports.https !== undefined && !isPort(env.ports.https)) {
    throw problem(name, "ports.https", "must be a TCP port");
  }
  for (const key of ["backend", "frontend"] as const) {
    const url = env.healthUrls?.[key];
    if (typeof url !== "string" || !/^https?:\/\/[^\s'"]+$/.test(url)) {
      throw problem(name, `healthUrls.${key}`, "must be an http(s) URL");
    }
  }
  if (!positiveInt(env.backupRetention))
    throw problem(name, "backupRetention", "must be a positive whole number");
  if (!positiveInt(env.releaseRetention) || env.releaseRetention < 2) {
    throw problem(name, "releaseRetention", "must be a whole number of at least 2");
  }
  if (typeof env.approvalRequired !== "boolean")
    throw problem(name, "approvalRequired", "must be true or false");
  if (
    !Array.isArray(env.migrateCommand) ||
    env.migrateCommand.length === 0 ||
    !env.migrateCommand.every((part) => typeof part === "string" && part !== "")
  ) {
    throw problem(name, "migrateCommand", "must be a non-empty list of words");
  }
  const h = env.health;
  if (
    !h ||
    !positiveInt(h.attempts) ||
    !positiveInt(h.initialDelaySeconds) ||
    !positiveInt(h.maxDelaySeconds) ||
    !positiveInt(h.timeoutSeconds)
  ) {
    throw problem(name, "health", "needs positive whole attempts, delays and timeout");
  }
  if (typeof env.minFreeDiskMb !== "number" || env.minFreeDiskMb < 0) {
    throw problem(name, "minFreeDiskMb", "must be a number of megabytes");
  }
  if (typeof env.rehearseMigrations !== "boolean")
    throw problem(name, "rehearseMigrations", "must be true or false");
  if (
    typeof env.migrationsDir !== "string" ||
    !/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(env.migrationsDir) ||
    env.migrationsDir.split("/").includes("..")
  ) {
    throw problem(name, "migrationsDir", "must be a relative path such as prisma/migrations");
  }
  if (!positiveInt(env.proofMemoryMb))
    throw problem(name, "proofMemoryMb", "must be a positive whole number of megabytes");
}
