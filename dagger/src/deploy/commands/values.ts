// Values are data, never code. Every value a builder puts into a remote script, an env file, the
// lock file or the audit log is checked here first, whoever the caller is: a flag, an environment
// file, CI's context or something read back from a server. zx's `quote` makes any string one
// shell word; what it cannot do is stop a newline from becoming a second line of release.env or
// of the audit log, or a path from pointing somewhere else. So each kind of value has a strict
// character set, and a builder throws UnsafeValueError before it returns a command: no caller
// can forget to check, and nothing is sent to the server.

import type { EnvironmentSettings } from "../environments.js";

/** A value that cannot safely go where a builder would put it; nothing was run. */
export class UnsafeValueError extends Error {
  override name = "UnsafeValueError";
}

/** Shown in messages: short, one line, every control character visible. */
export function shown(value: unknown): string {
  const text = JSON.stringify(String(value));
  return text.length > 90 ? `${text.slice(0, 86)}…"` : text;
}

export const RELEASE_ID = /^r\d{8}_\d{6}_[0-9a-f]{6}$/;
export const BACKUP_NAME = /^backup_([a-z][a-z0-9-]{0,30})_(\d{8})_(\d{6})\.tar\.gz$/;
const DIGEST_REF = /^[A-Za-z0-9][A-Za-z0-9._\-/:]*@sha256:[a-f0-9]{64}$/;
// Empty, or starting with a letter or digit (never an option-like "-x").
const LABEL_VALUE = /^([A-Za-z0-9][A-Za-z0-9._+-]{0,127})?$/;
// Docker's tag grammar, and an image repository (registry host[:port]/path), lower case.
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const IMAGE_REPOSITORY = /^[a-z0-9][a-z0-9.-]*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)+$/;
const REGISTRY_HOST = /^[a-z0-9][a-z0-9.-]*(:[0-9]+)?$/;
const REGISTRY_USER = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;
const TOKEN = /^[0-9a-f]{16,64}$/;
/** Process marks and operation ids: they go unquoted into an environment assignment. */
export const MARK = /^[a-z0-9][a-z0-9-]{0,63}$/;
const ENV_NAME = /^[a-z][a-z0-9-]{0,30}$/;
const PROJECT = /^[a-z0-9][a-z0-9_-]*$/;
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const ENV_KEY = /^[A-Z][A-Z0-9_]*$/;
// What an env-file value may hold: Compose reads unquoted values with interpolation ($) and
// quote removal, so only characters it leaves alone (digests, ports, labels).
const ENV_FILE_VALUE = /^[A-Za-z0-9._:/@+-]*$/;

export const isReleaseId = (v: string): boolean => RELEASE_ID.test(v);
export const isDigestRef = (v: string): boolean => DIGEST_REF.test(v) && !v.includes("..");
export const isLabelValue = (v: string): boolean => LABEL_VALUE.test(v);
export const isImageTag = (v: string): boolean => IMAGE_TAG.test(v);
export const isImageRepository = (v: string): boolean => IMAGE_REPOSITORY.test(v);

function check(ok: boolean, what: string, value: unknown, expected: string): void {
  if (!ok) throw new UnsafeValueError(`${what} ${shown(value)} is not ${expected}`);
}
const isString = (v: unknown): v is string => typeof v === "string";

/**
 * A checker for one kind of value: returns the value when it is of that kind, throws
 * UnsafeValueError naming the value (`what`) and the kind otherwise.
 */
function kind(test: (v: string) => boolean, expected: string, defaultWhat: string) {
  return (value: string, what = defaultWhat): string => {
    check(isString(value) && test(value), what, value, expected);
    return value;
  };
}
const matches = (pattern: RegExp) => (v: string) => pattern.test(v);

export const releaseIdValue = kind(
  matches(RELEASE_ID),
  "a release id (r<date>_<time>_<hex>)",
  "release id",
);
export const backupNameValue = kind(matches(BACKUP_NAME), "a backup file name", "backup name");
export const digestRefValue = kind(isDigestRef, "a digest reference (name@sha256:…)", "image");
export const labelValue = kind(
  matches(LABEL_VALUE),
  "a label (a letter or digit, then letters, digits, . _ + -)",
  "label",
);
export const tokenValue = kind(matches(TOKEN), "a hex token", "lock token");
export const markValue = kind(matches(MARK), "a process mark (a-z, 0-9, -)", "operation id");
export const registryValue = kind(matches(REGISTRY_HOST), "a registry host[:port]", "registry");
export const registryUserValue = kind(
  matches(REGISTRY_USER),
  "a registry user name",
  "registry user",
);
export const imageRepositoryValue = kind(isImageRepository, "an image repository", "repository");
export const imageTagValue = kind(isImageTag, "an image tag", "tag");
export const fileNameValue = kind(matches(FILE_NAME), "a plain file name", "file name");
/** A compose service or shell variable name: it is written unquoted. */
export const serviceNameValue = kind(matches(/^[a-z][a-z0-9_-]*$/), "a service name", "service");

/**
 * An absolute path on the server. Spaces, quotes and $ are fine (every use is quoted); NUL,
 * newlines and `..` are not: a path is one line of a listing and must not climb out.
 */
export function serverPathValue(value: string, what = "path"): string {
  const ok =
    isString(value) &&
    value.startsWith("/") &&
    value.replace(/\/+$/, "") !== "" &&
    !/[\0\n\r]/.test(value) &&
    !value.split("/").includes("..");
  check(ok, what, value, "an absolute path (not /, without newlines or ..)");
  return value;
}

/**
 * What every builder relies on in an environment's settings. resolveEnvironment checked them
 * already; the builders check again, because some are written unquoted (numbers, names).
 */
export function checkEnvironmentFields(env: EnvironmentSettings): void {
  check(isString(env.name) && ENV_NAME.test(env.name), "environment name", env.name, "a-z, 0-9, -");
  check(
    isString(env.project) && PROJECT.test(env.project),
    "compose project",
    env.project,
    "a project name",
  );
  serverPathValue(env.appDir, "appDir");
  serverPathValue(env.backupsDir, "backupsDir");
  for (const file of env.composeFiles) fileNameValue(file, "compose file");
  const counts: [string, unknown][] = [
    ["ports.backend", env.ports.backend],
    ["ports.frontend", env.ports.frontend],
    ["backupRetention", env.backupRetention],
    ["releaseRetention", env.releaseRetention],
    ["proofMemoryMb", env.proofMemoryMb],
    ...Object.entries(env.health).map(([key, value]): [string, unknown] => [
      `health.${key}`,
      value,
    ]),
  ];
  if (env.ports.https !== undefined) counts.push(["ports.https", env.ports.https]);
  for (const [what, value] of counts)
    check(Number.isSafeInteger(value) && (value as number) >= 0, what, value, "a whole number");
}

/** The text of an env file: one KEY=value line per entry, a value can never become a line. */
export function envFileText(entries: [string, string | number][]): string {
  return (
    entries
      .map(([key, raw]) => {
        const value = String(raw);
        check(ENV_KEY.test(key), "env-file key", key, "an upper-case name");
        check(
          ENV_FILE_VALUE.test(value),
          `${key}`,
          value,
          "an env-file value (A-Z a-z 0-9 . _ : / @ + -)",
        );
        return `${key}=${value}`;
      })
      .join("\n") + "\n"
  );
}

/**
 * One field of a space-separated `key=value` line (the audit log, the lock's info): every byte
 * outside a plain set is %-encoded, so a holder, run URL or version can never add a field or a
 * line, and the line still says what it was.
 */
export function logField(value: string | number | undefined | null): string {
  return percentEncoded(value, /[A-Za-z0-9._:/@+~,=-]/);
}

/**
 * The value of a `key=value` line of its own (the lock's info): as logField, but spaces and
 * other printable ASCII stay as they are, so `status` shows "operation=deploy r…" plainly.
 */
export function lineField(value: string | number | undefined | null): string {
  return percentEncoded(value, /[ -$&-~]/);
}

function percentEncoded(value: string | number | undefined | null, plain: RegExp): string {
  const text = value === undefined || value === null || value === "" ? "-" : String(value);
  return Array.from(Buffer.from(text, "utf8"))
    .map((byte) => {
      const c = String.fromCharCode(byte);
      return plain.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    })
    .join("");
}
