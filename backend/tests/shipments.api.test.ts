// HTTP integration tests of /api/shipments against a real MariaDB/MySQL database.
import request from "supertest";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { detailOf, errorOf, pageOf, shipmentOf } from "./support/api.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { startTestServer, type TestServer } from "./support/server.js";

let db: TestDatabase;
let server: TestServer;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startTestServer(db.prisma);
});

afterAll(async () => {
  await server?.close();
  await db?.drop();
});

beforeEach(async () => {
  await db.prisma.shipment.deleteMany();
});

const api = () => request(server.baseUrl);

const sample = {
  customerName: "Nordhafen Maschinenbau GmbH",
  customerEmail: "logistics@nordhafen.example",
  origin: "Hamburg, DE",
  destination: "Lagos, NG",
  weightKg: 1840.5,
};

async function createShipment(overrides: Record<string, unknown> = {}) {
  const response = await api()
    .post("/api/shipments")
    .send({ ...sample, ...overrides })
    .expect(201);
  return shipmentOf(response);
}

describe("POST /api/shipments", () => {
  it("creates a shipment with a generated tracking number and a first tracking event", async () => {
    const response = await api().post("/api/shipments").send(sample).expect(201);
    expect(response.body).toMatchObject({
      customerName: sample.customerName,
      customerEmail: sample.customerEmail,
      origin: "Hamburg, DE",
      destination: "Lagos, NG",
      weightKg: 1840.5,
      status: "CREATED",
    });
    expect(shipmentOf(response).trackingNumber).toMatch(/^QGO-\d{8}-[A-Z0-9]{8}$/);

    const stored = await db.prisma.shipment.findUniqueOrThrow({
      where: { id: shipmentOf(response).id },
      include: { events: true },
    });
    expect(stored.weightKg.toString()).toBe("1840.5");
    expect(stored.events).toHaveLength(1);
    expect(stored.events[0]).toMatchObject({ status: "CREATED", location: "Hamburg, DE" });
  });

  it("keeps a given tracking number (upper-cased) and answers 409 when it is already used", async () => {
    await createShipment({ trackingNumber: "qgo-test-0001" });
    const duplicate = await api()
      .post("/api/shipments")
      .send({ ...sample, trackingNumber: "QGO-TEST-0001" })
      .expect(409);
    expect(duplicate.body).toEqual({
      error: "Tracking number QGO-TEST-0001 is already in use.",
      code: "DUPLICATE_TRACKING_NUMBER",
      fields: { trackingNumber: ["is already in use"] },
    });
    expect(await db.prisma.shipment.count()).toBe(1);
  });

  it("answers 400 with the errors of every invalid field", async () => {
    const response = await api()
      .post("/api/shipments")
      .send({ customerName: "  ", customerEmail: "not-an-email", origin: "Oslo", weightKg: -3 })
      .expect(400);
    expect(errorOf(response).code).toBe("VALIDATION_FAILED");
    expect(errorOf(response).error).toBe(
      "Invalid shipment: check customerName, customerEmail, destination, weightKg.",
    );
    expect(errorOf(response).fields).toEqual({
      customerName: ["customer name is required"],
      customerEmail: ["customer email must be a valid email address"],
      destination: ["destination is required"],
      weightKg: ["weight must be greater than 0"],
    });
    expect(await db.prisma.shipment.count()).toBe(0);
  });

  it("answers 400 for a body that is not JSON, without internals", async () => {
    const response = await api()
      .post("/api/shipments")
      .set("Content-Type", "application/json")
      .send('{"customerName": ')
      .expect(400);
    expect(response.body).toEqual({
      error: "The request body is not valid JSON.",
      code: "BAD_REQUEST",
    });
  });
});

describe("GET /api/shipments", () => {
  beforeEach(async () => {
    await createShipment({
      trackingNumber: "QGO-LIST-0001",
      customerName: "Sahel Agro",
      origin: "Dakar, SN",
    });
    await createShipment({
      trackingNumber: "QGO-LIST-0002",
      customerName: "Atlas Textiles",
      origin: "Casablanca, MA",
    });
    const moving = await createShipment({
      trackingNumber: "QGO-LIST-0003",
      customerName: "Lumen Solar",
    });
    await api()
      .patch(`/api/shipments/${moving.id}/status`)
      .send({ status: "IN_TRANSIT" })
      .expect(200);
  });

  it("lists newest first with the total", async () => {
    const response = await api().get("/api/shipments").expect(200);
    expect(response.body).toMatchObject({ total: 3, page: 1, pageSize: 20, totalPages: 1 });
    expect(pageOf(response).items.map((s: { trackingNumber: string }) => s.trackingNumber)).toEqual(
      ["QGO-LIST-0003", "QGO-LIST-0002", "QGO-LIST-0001"],
    );
  });

  it("filters by status", async () => {
    const response = await api().get("/api/shipments?status=IN_TRANSIT").expect(200);
    expect(pageOf(response).total).toBe(1);
    expect(pageOf(response).items[0]).toMatchObject({
      trackingNumber: "QGO-LIST-0003",
      status: "IN_TRANSIT",
    });
  });

  it("searches tracking number, customer and places, ignoring case", async () => {
    const byCustomer = await api().get("/api/shipments?search=atlas").expect(200);
    expect(pageOf(byCustomer).items.map((s: { customerName: string }) => s.customerName)).toEqual([
      "Atlas Textiles",
    ]);
    const byPlace = await api().get("/api/shipments?search=dakar").expect(200);
    expect(pageOf(byPlace).total).toBe(1);
    const byNumber = await api().get("/api/shipments?search=list-000").expect(200);
    expect(pageOf(byNumber).total).toBe(3);
    const combined = await api().get("/api/shipments?search=list&status=CREATED").expect(200);
    expect(pageOf(combined).total).toBe(2);
  });

  it("paginates", async () => {
    const second = await api().get("/api/shipments?page=2&pageSize=2").expect(200);
    expect(second.body).toMatchObject({ total: 3, page: 2, pageSize: 2, totalPages: 2 });
    expect(pageOf(second).items.map((s: { trackingNumber: string }) => s.trackingNumber)).toEqual([
      "QGO-LIST-0001",
    ]);
  });

  it("answers 400 for a bad filter", async () => {
    const response = await api().get("/api/shipments?status=LOST&pageSize=500").expect(400);
    expect(Object.keys(errorOf(response).fields ?? {}).sort()).toEqual(["pageSize", "status"]);
    expect(errorOf(response).fields?.status?.[0]).toContain("must be one of CREATED, IN_TRANSIT");
  });
});

describe("GET /api/shipments/:id", () => {
  it("returns the shipment with its timeline, documents and next allowed statuses", async () => {
    const created = await createShipment();
    await api()
      .post(`/api/shipments/${created.id}/events`)
      .send({
        description: "Arrived at hub",
        location: "Bremen, DE",
        occurredAt: "2030-01-02T03:04:05.000Z",
      })
      .expect(201);
    const response = await api().get(`/api/shipments/${created.id}`).expect(200);
    expect(response.body).toMatchObject({
      id: created.id,
      status: "CREATED",
      allowedNextStatuses: ["IN_TRANSIT", "CANCELLED"],
    });
    expect(detailOf(response).documents).toEqual([]);
    expect(detailOf(response).events.map((e: { description: string }) => e.description)).toEqual([
      "Shipment registered",
      "Arrived at hub",
    ]);
    expect(detailOf(response).events[1]).toMatchObject({
      location: "Bremen, DE",
      occurredAt: "2030-01-02T03:04:05.000Z",
      status: null,
    });
  });

  it("answers 404 for an unknown id and 400 for a non-numeric one", async () => {
    const missing = await api().get("/api/shipments/999999").expect(404);
    expect(missing.body).toEqual({ error: "Shipment not found.", code: "NOT_FOUND" });
    const bad = await api().get("/api/shipments/abc").expect(400);
    expect(errorOf(bad).fields).toEqual({ id: ["must be a number"] });
  });
});

describe("PATCH /api/shipments/:id/status", () => {
  it("walks the whole lifecycle and records an event for each change", async () => {
    const created = await createShipment();
    for (const status of ["IN_TRANSIT", "AT_CUSTOMS", "DELIVERED"]) {
      const response = await api()
        .patch(`/api/shipments/${created.id}/status`)
        .send({ status })
        .expect(200);
      expect(shipmentOf(response).status).toBe(status);
    }
    const events = await db.prisma.trackingEvent.findMany({
      where: { shipmentId: created.id },
      orderBy: { id: "asc" },
    });
    expect(events.map((e) => e.status)).toEqual([
      "CREATED",
      "IN_TRANSIT",
      "AT_CUSTOMS",
      "DELIVERED",
    ]);
    expect(events[3]).toMatchObject({
      location: "Lagos, NG",
      description: "Status changed to Delivered",
    });
  });

  it("uses the given note and location", async () => {
    const created = await createShipment();
    await api()
      .patch(`/api/shipments/${created.id}/status`)
      .send({ status: "CANCELLED", note: "Customer withdrew the order", location: "Head office" })
      .expect(200);
    const last = await db.prisma.trackingEvent.findFirstOrThrow({
      where: { shipmentId: created.id },
      orderBy: { id: "desc" },
    });
    expect(last).toMatchObject({
      status: "CANCELLED",
      description: "Customer withdrew the order",
      location: "Head office",
    });
  });

  it("answers 409 for a transition the lifecycle does not allow, and changes nothing", async () => {
    const created = await createShipment();
    const response = await api()
      .patch(`/api/shipments/${created.id}/status`)
      .send({ status: "DELIVERED" })
      .expect(409);
    expect(response.body).toMatchObject({
      code: "INVALID_STATUS_TRANSITION",
      error: "A shipment that is CREATED cannot become DELIVERED (allowed: IN_TRANSIT, CANCELLED).",
      from: "CREATED",
      to: "DELIVERED",
      allowed: ["IN_TRANSIT", "CANCELLED"],
    });
    const stored = await db.prisma.shipment.findUniqueOrThrow({
      where: { id: created.id },
      include: { events: true },
    });
    expect(stored.status).toBe("CREATED");
    expect(stored.events).toHaveLength(1);
  });

  it("lets only one of two concurrent identical changes through", async () => {
    const created = await createShipment();
    const results = await Promise.all(
      [0, 1, 2].map(() =>
        api().patch(`/api/shipments/${created.id}/status`).send({ status: "IN_TRANSIT" }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    const transitEvents = await db.prisma.trackingEvent.count({
      where: { shipmentId: created.id, status: "IN_TRANSIT" },
    });
    expect(transitEvents).toBe(1);
  });

  it("answers 400 for an unknown status and 404 for an unknown shipment", async () => {
    const created = await createShipment();
    const bad = await api()
      .patch(`/api/shipments/${created.id}/status`)
      .send({ status: "LOST" })
      .expect(400);
    expect(errorOf(bad).fields?.status?.[0]).toContain("must be one of");
    await api().patch("/api/shipments/424242/status").send({ status: "IN_TRANSIT" }).expect(404);
  });
});

describe("POST /api/shipments/:id/events", () => {
  it("adds an event without changing the status", async () => {
    const created = await createShipment();
    const response = await api()
      .post(`/api/shipments/${created.id}/events`)
      .send({ description: "Container scanned at gate" })
      .expect(201);
    expect(response.body).toMatchObject({
      shipmentId: created.id,
      description: "Container scanned at gate",
      location: null,
      status: null,
    });
    const stored = await db.prisma.shipment.findUniqueOrThrow({ where: { id: created.id } });
    expect(stored.status).toBe("CREATED");
  });

  it("refuses events on a closed shipment (409) and invalid events (400)", async () => {
    const created = await createShipment();
    await api()
      .patch(`/api/shipments/${created.id}/status`)
      .send({ status: "CANCELLED" })
      .expect(200);
    const closed = await api()
      .post(`/api/shipments/${created.id}/events`)
      .send({ description: "late scan" })
      .expect(409);
    expect(errorOf(closed).code).toBe("SHIPMENT_CLOSED");
    const invalid = await api()
      .post(`/api/shipments/${created.id}/events`)
      .send({ description: "", occurredAt: "yesterday" })
      .expect(400);
    expect(Object.keys(errorOf(invalid).fields ?? {}).sort()).toEqual([
      "description",
      "occurredAt",
    ]);
  });
});

describe("unknown routes", () => {
  it("answer 404 in JSON", async () => {
    const response = await api().get("/api/nothing-here").expect(404);
    expect(response.body).toEqual({
      error: "No route for GET /api/nothing-here.",
      code: "NOT_FOUND",
    });
  });
});
