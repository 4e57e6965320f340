// The deploy core: plain TypeScript over ssh2 and zx's quote, no Dagger import. The Dagger
// object in ../environment.ts is a thin layer over these exports.
export * from "./environments.js";
export * from "./operation.js";
export * from "./deploy.js";
export * from "./rollback.js";
export * from "./queries.js";
export * from "./repo-files.js";
export { formatReport } from "./report.js";
export { HostKeyError, parseKnownHosts } from "./known-hosts.js";
export { ConnectionLostError, RemoteCommandError, type StepRecord } from "./executor.js";
export { BACKUP_NAME, backupName, type ReleaseFile } from "./commands/index.js";
export * from "./functions.js";
