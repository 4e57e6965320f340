// Sample data for development and demos: shipments in every state with their tracking history.
// Idempotent: shipments are keyed by tracking number, and existing ones are left alone.
// Run: DATABASE_URL=... npm run db:seed -w backend   (or `node dist/seed.js` in the image)
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { createPrismaClient, type PrismaClient } from "./db.js";
import { Prisma } from "./generated/prisma/client.js";
import type { ShipmentStatus } from "./domain/status.js";

interface SeedEvent {
  hoursAfterCreation: number;
  status?: ShipmentStatus;
  location: string | null;
  description: string;
}

interface SeedShipment {
  trackingNumber: string;
  customerName: string;
  customerEmail: string | null;
  origin: string;
  destination: string;
  weightKg: string;
  daysAgo: number;
  events: SeedEvent[];
}

const created = (origin: string): SeedEvent => ({
  hoursAfterCreation: 0,
  status: "CREATED",
  location: origin,
  description: "Shipment registered",
});

export const SEED_SHIPMENTS: SeedShipment[] = [
  {
    trackingNumber: "QGO-SEED-0001",
    customerName: "Nordhafen Maschinenbau GmbH",
    customerEmail: "logistics@nordhafen.example",
    origin: "Hamburg, DE",
    destination: "Lagos, NG",
    weightKg: "1840.50",
    daysAgo: 21,
    events: [
      created("Hamburg, DE"),
      {
        hoursAfterCreation: 20,
        status: "IN_TRANSIT",
        location: "Port of Hamburg, DE",
        description: "Loaded on MV Elbe Star",
      },
      {
        hoursAfterCreation: 190,
        location: "Algeciras, ES",
        description: "Transshipment completed",
      },
      {
        hoursAfterCreation: 380,
        status: "AT_CUSTOMS",
        location: "Apapa Port, Lagos, NG",
        description: "Held for customs inspection",
      },
      {
        hoursAfterCreation: 430,
        status: "DELIVERED",
        location: "Lagos, NG",
        description: "Delivered, signed by A. Okafor",
      },
    ],
  },
  {
    trackingNumber: "QGO-SEED-0002",
    customerName: "Sahel Agro Exports",
    customerEmail: "ops@sahelagro.example",
    origin: "Dakar, SN",
    destination: "Rotterdam, NL",
    weightKg: "12500.00",
    daysAgo: 9,
    events: [
      created("Dakar, SN"),
      {
        hoursAfterCreation: 30,
        status: "IN_TRANSIT",
        location: "Port of Dakar, SN",
        description: "Container MSKU 418203-7 departed",
      },
      { hoursAfterCreation: 150, location: "Las Palmas, ES", description: "Vessel called at port" },
    ],
  },
  {
    trackingNumber: "QGO-SEED-0003",
    customerName: "Brightline Pharmacies",
    customerEmail: "supply@brightline.example",
    origin: "Mumbai, IN",
    destination: "Nairobi, KE",
    weightKg: "310.75",
    daysAgo: 6,
    events: [
      created("Mumbai, IN"),
      {
        hoursAfterCreation: 12,
        status: "IN_TRANSIT",
        location: "BOM Air Cargo, IN",
        description: "Departed on flight KQ 203",
      },
      {
        hoursAfterCreation: 22,
        status: "AT_CUSTOMS",
        location: "JKIA, Nairobi, KE",
        description: "Awaiting pharmacy board release",
      },
    ],
  },
  {
    trackingNumber: "QGO-SEED-0004",
    customerName: "Atlas Textiles SARL",
    customerEmail: null,
    origin: "Casablanca, MA",
    destination: "Lyon, FR",
    weightKg: "745.20",
    daysAgo: 2,
    events: [created("Casablanca, MA")],
  },
  {
    trackingNumber: "QGO-SEED-0005",
    customerName: "Kivu Coffee Cooperative",
    customerEmail: "export@kivucoffee.example",
    origin: "Goma, CD",
    destination: "Antwerp, BE",
    weightKg: "6000.00",
    daysAgo: 14,
    events: [
      created("Goma, CD"),
      {
        hoursAfterCreation: 48,
        status: "CANCELLED",
        location: null,
        description: "Cancelled by customer: harvest delayed",
      },
    ],
  },
  {
    trackingNumber: "QGO-SEED-0006",
    customerName: "Fjord Marine Supplies AS",
    customerEmail: "orders@fjordmarine.example",
    origin: "Bergen, NO",
    destination: "Cape Town, ZA",
    weightKg: "2200.00",
    daysAgo: 4,
    events: [
      created("Bergen, NO"),
      {
        hoursAfterCreation: 16,
        status: "IN_TRANSIT",
        location: "Bergen, NO",
        description: "Picked up by feeder vessel",
      },
    ],
  },
  {
    trackingNumber: "QGO-SEED-0007",
    customerName: "Lumen Solar Ltd",
    customerEmail: "procurement@lumensolar.example",
    origin: "Shenzhen, CN",
    destination: "Accra, GH",
    weightKg: "3975.40",
    daysAgo: 30,
    events: [
      created("Shenzhen, CN"),
      {
        hoursAfterCreation: 40,
        status: "IN_TRANSIT",
        location: "Yantian Port, CN",
        description: "Loaded on CMA CGM Tema",
      },
      {
        hoursAfterCreation: 520,
        status: "AT_CUSTOMS",
        location: "Tema Port, GH",
        description: "Customs declaration lodged",
      },
      {
        hoursAfterCreation: 600,
        status: "DELIVERED",
        location: "Accra, GH",
        description: "Delivered to warehouse 3",
      },
    ],
  },
  {
    trackingNumber: "QGO-SEED-0008",
    customerName: "Alpine Medical Devices AG",
    customerEmail: "shipping@alpinemed.example",
    origin: "Zurich, CH",
    destination: "Dubai, AE",
    weightKg: "95.00",
    daysAgo: 1,
    events: [created("Zurich, CH")],
  },
];

/** Inserts the sample shipments that are not there yet; returns how many were created. */
export async function seed(prisma: PrismaClient, now: Date = new Date()): Promise<number> {
  let createdCount = 0;
  for (const sample of SEED_SHIPMENTS) {
    const exists = await prisma.shipment.findUnique({
      where: { trackingNumber: sample.trackingNumber },
    });
    if (exists) continue;
    const createdAt = new Date(now.getTime() - sample.daysAgo * 24 * 3600 * 1000);
    const finalStatus = sample.events.reduce<ShipmentStatus>(
      (status, e) => e.status ?? status,
      "CREATED",
    );
    await prisma.shipment.create({
      data: {
        trackingNumber: sample.trackingNumber,
        customerName: sample.customerName,
        customerEmail: sample.customerEmail,
        origin: sample.origin,
        destination: sample.destination,
        weightKg: new Prisma.Decimal(sample.weightKg),
        status: finalStatus,
        createdAt,
        events: {
          create: sample.events.map((e) => ({
            status: e.status ?? null,
            location: e.location,
            description: e.description,
            occurredAt: new Date(createdAt.getTime() + e.hoursAfterCreation * 3600 * 1000),
          })),
        },
      },
    });
    createdCount += 1;
  }
  return createdCount;
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    console.error("DATABASE_URL is not set; set it to mysql://USER:PASSWORD@HOST:3306/DATABASE.");
    process.exit(1);
  }
  const prisma = createPrismaClient(databaseUrl);
  try {
    const count = await seed(prisma);
    console.log(
      `seed: ${count} shipment(s) created, ${SEED_SHIPMENTS.length - count} already present`,
    );
  } catch (error) {
    console.error(`seed failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  } finally {
    await prisma.$disconnect();
  }
}
