// The builders of every remote command, by concern; `import * as commands` reads them as one.
export * from "./shared.js";
export * from "./lock.js";
export * from "./checks.js";
export * from "./backup.js";
export * from "./release.js";
export * from "./records.js";
export * from "./restore.js";
export * from "./leftovers.js";
export * from "./database.js";
export * from "./copy.js";
export * from "./proof.js";
export * from "./edge.js";
export * from "./archive.js";
export * from "./certificates.js";
