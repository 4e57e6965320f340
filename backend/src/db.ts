// Prisma Client over the MariaDB driver adapter (speaks to MySQL 8 and MariaDB alike).
import { PrismaMariaDb } from "@prisma/adapter-mariadb";
import type { PoolConfig } from "mariadb";
import { PrismaClient } from "./generated/prisma/client.js";

/** Pool settings from a mysql:// URL. Credentials are URL-decoded; `connection_limit` is honoured. */
export function poolConfigFromUrl(databaseUrl: string): PoolConfig {
  const url = new URL(databaseUrl);
  const limit = Number(url.searchParams.get("connection_limit") ?? "10");
  return {
    host: url.hostname,
    port: url.port ? Number(url.port) : 3306,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: decodeURIComponent(url.pathname.replace(/^\//, "")),
    connectionLimit: Number.isInteger(limit) && limit > 0 ? limit : 10,
    // Fail fast when the database is away, so requests and /health answer instead of hanging.
    connectTimeout: 3_000,
    acquireTimeout: 5_000,
    // MySQL 8's caching_sha2_password needs the server's RSA key on connections without TLS.
    allowPublicKeyRetrieval: true,
  };
}

export function createPrismaClient(databaseUrl: string): PrismaClient {
  return new PrismaClient({ adapter: new PrismaMariaDb(poolConfigFromUrl(databaseUrl)) });
}

export type { PrismaClient };

/** True when the database answers a trivial query within `timeoutMs`. */
export async function databaseIsUp(prisma: PrismaClient, timeoutMs = 2_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const query = prisma.$queryRaw`SELECT 1`.then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([query, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
