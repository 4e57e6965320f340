// Prisma CLI configuration. DATABASE_URL is read from the environment (no .env loading):
// `prisma generate` does not need it, `prisma migrate deploy` does.
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: {
    path: "prisma/migrations",
    seed: "node --import tsx src/seed.ts",
  },
  datasource: {
    url: process.env.DATABASE_URL,
  },
});
