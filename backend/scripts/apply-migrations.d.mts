// Types for the plain-JavaScript migration applier, for the TypeScript tests that import it.
export declare const DEFAULT_MIGRATIONS_DIR: string;
export declare class MigrationError extends Error {}
export declare function connectionOptionsFromUrl(databaseUrl: string): {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  allowPublicKeyRetrieval: boolean;
  multipleStatements: boolean;
  connectTimeout: number;
};
export declare function migrationChecksum(contents: string | Buffer): string;
export declare function readMigrations(
  migrationsDir?: string,
): { name: string; script: string; checksum: string }[];
export declare function applyMigrations(options: {
  databaseUrl: string | undefined;
  migrationsDir?: string;
  log?: (line: string) => void;
}): Promise<{ applied: string[]; skipped: string[] }>;
