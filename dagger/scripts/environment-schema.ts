// Writes deploy/environments/environment.schema.json from the zod schema the deploy reads the
// files with (src/deploy/environments.ts), so editors complete and check the same keys.
// Run after changing the schema: npm run environment-schema (a unit test fails until you do).
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  ENVIRONMENT_SCHEMA_FILE,
  ENVIRONMENTS_DIR,
  environmentJsonSchema,
} from "../src/deploy/environments.js";

export const schemaPath = join(
  resolve(import.meta.dirname, "../.."),
  ENVIRONMENTS_DIR,
  ENVIRONMENT_SCHEMA_FILE,
);

export function schemaText(): string {
  return `${JSON.stringify(environmentJsonSchema(), null, 2)}\n`;
}

if (process.argv[1] === import.meta.filename) {
  writeFileSync(schemaPath, schemaText());
  console.log(`wrote ${schemaPath}`);
}
