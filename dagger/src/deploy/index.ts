// The deploy core: plain TypeScript over ssh2 and zx's quote, no Dagger import. The Dagger
// functions in ../index.ts are thin wrappers over these exports.
export * from "./environments.js";
export * from "./deploy.js";
export * from "./repo-files.js";
export { formatReport } from "./report.js";
export { HostKeyError, parseKnownHosts } from "./known-hosts.js";
export { ConnectionLostError, RemoteCommandError, type StepRecord } from "./executor.js";
export { BACKUP_NAME, backupName, type ReleaseFile } from "./commands.js";
export * from "./functions.js";
