// The module process the stand-in engine starts for every call: what the engine's generated
// __dagger.entrypoint.ts does (list the module's .ts files plus the SDK client, then hand them
// to the SDK's entrypoint), with the client copy from sdk-copy.ts.
import { readdirSync, statSync } from "node:fs";
import { extname, join } from "node:path";

import { entrypoint } from "@dagger.io/dagger";

function typescriptFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return typescriptFiles(path);
    return [".ts", ".mts"].includes(extname(path)) ? [path] : [];
  });
}

const source = process.env.QGO_STANDIN_MODULE_SRC;
const client = process.env.QGO_STANDIN_CLIENT_FILE;
if (!source || !client) {
  throw new Error(
    "run-module.ts is started by the stand-in engine (QGO_STANDIN_MODULE_SRC, QGO_STANDIN_CLIENT_FILE)",
  );
}
await entrypoint([...typescriptFiles(source), client]);
