// The SDK's scanner resolves Dagger types (Directory, Secret...) only from a file named
// client.gen.ts; the engine generates one, the npm package ships client.gen.d.ts. This makes a
// private copy of the installed SDK with client.gen.ts beside client.gen.d.ts, under
// node_modules/.cache, so the installed package itself stays untouched (tsc and ESLint see the
// published types only).
import { cp, mkdir, readFile, rename, rm, writeFile, copyFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";

/** Returns the path of the client.gen.ts copy for the SDK installed in moduleDir. */
export async function prepareSdkClientCopy(moduleDir: string): Promise<string> {
  const installed = join(moduleDir, "node_modules", "@dagger.io", "dagger");
  const { version } = JSON.parse(await readFile(join(installed, "package.json"), "utf8")) as {
    version: string;
  };
  const target = join(moduleDir, "node_modules", ".cache", "qgo-standin", `sdk-${version}`);
  const clientFile = join(target, "dist", "src", "api", "client.gen.ts");
  if (existsSync(join(target, "ready"))) return clientFile;
  // Build in a private temporary dir, then rename: test files may start in parallel.
  const temporary = `${target}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(temporary, { recursive: true });
  await cp(join(installed, "dist"), join(temporary, "dist"), { recursive: true });
  await copyFile(join(installed, "package.json"), join(temporary, "package.json"));
  await copyFile(
    join(temporary, "dist", "src", "api", "client.gen.d.ts"),
    join(temporary, "dist", "src", "api", "client.gen.ts"),
  );
  await writeFile(join(temporary, "ready"), version);
  try {
    await rename(temporary, target);
  } catch {
    // Another process won the race; its copy is identical.
    await rm(temporary, { recursive: true, force: true });
  }
  return clientFile;
}
