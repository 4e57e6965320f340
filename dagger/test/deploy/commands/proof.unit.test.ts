// The rehearsal's scan of the pending migrations, run by bash with a stand-in `docker` whose
// `run` and `cp` work in a scratch dir laid out like the backend image (prisma/migrations/*): the
// old release still serves while they run, so a drop or a rename is warned about.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { quote } from "zx";
import * as commands from "../../../src/deploy/commands/index.js";
import { bash, digest, envIn, useScratch } from "../unit-support.js";

const scratch = useScratch();
const IMAGE = digest("b");

/** A `docker` that knows the copy (running, one migration applied) and the image (its files). */
function standInDocker(dir: string, imageRoot: string, applied: string[]): string {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, "docker"),
    [
      "#!/bin/bash",
      'case "$1" in',
      "  inspect) echo true ;;",
      // pending_migrations lists the image's migrations through a created container.
      "  create) echo created-container ;;",
      "  image) echo /app ;;",
      `  cp) path=\${2#created-container:/app/}; cd ${quote(imageRoot)} && tar -C "$(dirname "$path")" -cf - "$(basename "$path")" ;;`,
      "  rm) ;;",
      // env_of reads printenv; mysql_in asks for the applied migrations.
      `  exec) if [ "$3" = printenv ]; then echo "value-$4"; else printf '%s\\n' ${applied.map((a) => quote(a)).join(" ")}; fi ;;`,
      "  run)",
      '    args=("$@"); entry=""; rest=()',
      '    for i in "${!args[@]}"; do',
      '      [ "${args[$i]}" = --entrypoint ] && entry=${args[$((i + 1))]}',
      `      if [ "\${args[$i]}" = ${quote(IMAGE)} ]; then rest=("\${args[@]:$((i + 1))}"); fi`,
      "    done",
      `    cd ${quote(imageRoot)}`,
      '    case "$entry" in find) find "${rest[@]}" ;; sh) sh "${rest[@]}" ;; *) echo "migrated" ;; esac ;;',
      "esac",
      "",
    ].join("\n"),
  );
  chmodSync(join(bin, "docker"), 0o755);
  return bin;
}

function migration(imageRoot: string, name: string, sql: string): void {
  mkdirSync(join(imageRoot, "prisma", "migrations", name), { recursive: true });
  writeFileSync(join(imageRoot, "prisma", "migrations", name, "migration.sql"), sql);
}

function rehearse(dir: string, applied: string[]) {
  const env = envIn(dir);
  const command = commands.rehearseMigrations(env, "0a1b2c", {
    backendImage: IMAGE,
    migrateCommand: ["node", "apply.mjs"],
    migrationsDir: "prisma/migrations",
  });
  const bin = standInDocker(dir, join(dir, "image"), applied);
  return bash(`export PATH=${quote(bin)}:"$PATH"\n${command.script}`);
}

describe("the rehearsal's check of what the old release meets", () => {
  it("warns on each pending migration that drops or renames a table or column, and on nothing else", () => {
    const dir = join(scratch(), "contract");
    const image = join(dir, "image");
    migration(
      image,
      "001_init",
      "CREATE TABLE `a` (`id` INT);\nALTER TABLE `a` DROP COLUMN `x`;\n",
    );
    migration(image, "002_expand", "ALTER TABLE `a` ADD COLUMN `note` TEXT NULL;\n");
    migration(
      image,
      "003_contract",
      "ALTER TABLE `a` DROP COLUMN `legacy`;\nRENAME TABLE `a` TO `b`;\nALTER TABLE `b` RENAME COLUMN `n` TO `m`;\n",
    );
    const result = rehearse(dir, ["001_init"]);
    expect(result.status).toBe(0);
    const warnings = result.stdout.split("\n").filter((l) => l.startsWith("contract_warning="));
    // 001_init is applied already: its drop does not concern this deploy.
    expect(warnings).toEqual([
      "contract_warning=003_contract:1:ALTER TABLE `a` DROP COLUMN `legacy`;",
      "contract_warning=003_contract:2:RENAME TABLE `a` TO `b`;",
      "contract_warning=003_contract:3:ALTER TABLE `b` RENAME COLUMN `n` TO `m`;",
    ]);
    expect(result.stdout).toMatch(/^pending=2$/m);
    expect(result.stdout).toMatch(/^rehearsal=passed/m);
  });

  it("says nothing when the pending migrations only add", () => {
    const dir = join(scratch(), "expand");
    migration(join(dir, "image"), "001_init", "CREATE TABLE `a` (`id` INT);\n");
    migration(join(dir, "image"), "002_expand", "ALTER TABLE `a` ADD COLUMN `note` TEXT NULL;\n");
    const result = rehearse(dir, ["001_init"]);
    expect(result.status).toBe(0);
    expect(result.stdout).not.toContain("contract_warning=");
    expect(result.stdout).toMatch(/^pending=1$/m);
  });
});
