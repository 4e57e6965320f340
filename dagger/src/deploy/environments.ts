// Environment settings: the repository keeps one JSON file per environment
// (deploy/environments/<name>.json); every field can be overridden by the caller.
// Validation happens here, before any connection, so bad settings change nothing.

export interface HealthSettings {
  /** How many times each URL is tried before the release counts as unhealthy. */
  attempts: number;
  /** First wait between attempts; doubles each time up to maxDelaySeconds. */
  initialDelaySeconds: number;
  maxDelaySeconds: number;
  /** Time limit of one HTTP request. */
  timeoutSeconds: number;
}

export interface EnvironmentSettings {
  name: string;
  host: string;
  sshPort: number;
  sshUser: string;
  appDir: string;
  backupsDir: string;
  composeFiles: string[];
  project: string;
  ports: { backend: number; frontend: number; https?: number };
  healthUrls: { backend: string; frontend: string };
  backupRetention: number;
  releaseRetention: number;
  approvalRequired: boolean;
  migrateCommand: string[];
  health: HealthSettings;
  minFreeDiskMb: number;
}

/** Fields a caller may override; nested objects are merged field by field. */
export type EnvironmentOverrides = Partial<
  Omit<EnvironmentSettings, "ports" | "healthUrls" | "health">
> & {
  ports?: Partial<EnvironmentSettings["ports"]>;
  healthUrls?: Partial<EnvironmentSettings["healthUrls"]>;
  health?: Partial<HealthSettings>;
};

export const KNOWN_ENVIRONMENTS = ["staging", "production"] as const;
export type EnvironmentName = (typeof KNOWN_ENVIRONMENTS)[number];

export class DeployConfigError extends Error {
  override name = "DeployConfigError";
}

export function assertEnvironmentName(name: string): asserts name is EnvironmentName {
  if (!(KNOWN_ENVIRONMENTS as readonly string[]).includes(name)) {
    throw new DeployConfigError(
      `Unknown environment "${name}". Known environments: ${KNOWN_ENVIRONMENTS.join(", ")} ` +
        `(settings in deploy/environments/<name>.json). Nothing was changed.`,
    );
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function withoutUndefined<T extends object>(value: T | undefined): Partial<T> {
  if (!value) return {};
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}

/**
 * Builds the settings of environment `name` from the repository file's JSON text and the
 * caller's overrides, then validates them. Throws DeployConfigError naming the bad field.
 */
export function resolveEnvironment(
  name: string,
  fileText: string,
  overrides: EnvironmentOverrides = {},
): EnvironmentSettings {
  assertEnvironmentName(name);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fileText);
  } catch (error) {
    throw new DeployConfigError(
      `deploy/environments/${name}.json is not valid JSON: ${(error as Error).message}`,
    );
  }
  if (!isRecord(parsed)) {
    throw new DeployConfigError(`deploy/environments/${name}.json must hold a JSON object`);
  }
  const base = parsed as unknown as EnvironmentSettings;
  const { ports, healthUrls, health, ...flat } = overrides;
  const merged: EnvironmentSettings = {
    ...base,
    ...withoutUndefined(flat),
    ports: { ...base.ports, ...withoutUndefined(ports) },
    healthUrls: { ...base.healthUrls, ...withoutUndefined(healthUrls) },
    health: { ...base.health, ...withoutUndefined(health) },
  };
  // Ports given without URLs move the default health URLs along with them.
  if (ports?.backend !== undefined && healthUrls?.backend === undefined) {
    merged.healthUrls.backend = `http://127.0.0.1:${ports.backend}/health`;
  }
  if (ports?.frontend !== undefined && healthUrls?.frontend === undefined) {
    merged.healthUrls.frontend = `http://127.0.0.1:${ports.frontend}/`;
  }
  validateEnvironment(merged, name);
  return merged;
}

function problem(env: string, field: string, message: string): DeployConfigError {
  return new DeployConfigError(
    `Environment ${env}: ${field} ${message} (set it in deploy/environments/${env}.json ` +
      `or pass it as an argument). Nothing was changed.`,
  );
}

const positiveInt = (value: unknown): value is number =>
  typeof value === "number" && Number.isInteger(value) && value > 0;
const port = (value: unknown): value is number => positiveInt(value) && value <= 65535;
// File names of compose files: plain names in the app dir, no path parts.
const plainFileName = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
// A compose project name as Docker Compose accepts it.
const projectName = /^[a-z0-9][a-z0-9_-]*$/;

export function validateEnvironment(env: EnvironmentSettings, name: string): void {
  if (env.name !== name) throw problem(name, "name", `must be "${name}", found "${env.name}"`);
  if (typeof env.host !== "string" || env.host.trim() === "") {
    throw problem(name, "host", "is not set: pass --host with the server's name or address");
  }
  if (/[\s@/]/.test(env.host)) throw problem(name, "host", `"${env.host}" is not a host name`);
  if (!port(env.sshPort)) throw problem(name, "sshPort", "must be a TCP port number");
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
    !Array.isArray(env.composeFiles) ||
    env.composeFiles.length === 0 ||
    !env.composeFiles.every((f) => typeof f === "string" && plainFileName.test(f))
  ) {
    throw problem(name, "composeFiles", "must list plain file names such as compose.yaml");
  }
  if (typeof env.project !== "string" || !projectName.test(env.project)) {
    throw problem(name, "project", "must be a compose project name (a-z, 0-9, _ and -)");
  }
  if (!port(env.ports?.backend) || !port(env.ports?.frontend)) {
    throw problem(name, "ports", "must give backend and frontend TCP ports");
  }
  if (env.ports.https !== undefined && !port(env.ports.https)) {
    throw problem(name, "ports.https", "must be a TCP port");
  }
  for (const key of ["backend", "frontend"] as const) {
    const url = env.healthUrls?.[key];
    if (typeof url !== "string" || !/^https?:\/\/[^\s'"]+$/.test(url)) {
      throw problem(name, `healthUrls.${key}`, "must be an http(s) URL");
    }
  }
  if (!positiveInt(env.backupRetention)) {
    throw problem(name, "backupRetention", "must be a positive whole number");
  }
  if (!positiveInt(env.releaseRetention) || env.releaseRetention < 2) {
    throw problem(name, "releaseRetention", "must be a whole number of at least 2");
  }
  if (typeof env.approvalRequired !== "boolean") {
    throw problem(name, "approvalRequired", "must be true or false");
  }
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
}
