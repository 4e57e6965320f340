// Upload and download of shipment documents: stored on disk under UPLOAD_DIR, with size and
// type limits; rejected uploads leave no file behind.
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detailOf, documentOf, errorOf } from "./support/api.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { startTestServer, type TestServer } from "./support/server.js";

const MAX_BYTES = 64 * 1024;
let db: TestDatabase;
let server: TestServer;
let shipmentId: number;

const pdf = Buffer.concat([
  Buffer.from("%PDF-1.7\n"),
  Buffer.from("1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"),
]);
const png = Buffer.from(
  "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489",
  "hex",
);

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startTestServer(db.prisma, { maxUploadBytes: MAX_BYTES });
  const shipment = await db.prisma.shipment.create({
    data: {
      trackingNumber: "QGO-DOCS-0001",
      customerName: "Brightline",
      origin: "Mumbai, IN",
      destination: "Nairobi, KE",
      weightKg: 310.75,
    },
  });
  shipmentId = shipment.id;
});

afterAll(async () => {
  await server?.close();
  await db?.drop();
});

const api = () => request(server.baseUrl);
const storedFiles = () => readdirSync(server.uploadDir);

describe("documents", () => {
  it("stores an uploaded PDF under UPLOAD_DIR and serves it back byte for byte", async () => {
    const upload = await api()
      .post(`/api/shipments/${shipmentId}/documents`)
      .attach("file", pdf, {
        filename: "Bill of lading – März.pdf",
        contentType: "application/pdf",
      })
      .expect(201);
    expect(upload.body).toMatchObject({
      shipmentId,
      originalName: "Bill of lading – März.pdf",
      mimeType: "application/pdf",
      sizeBytes: pdf.length,
    });
    expect(upload.body).not.toHaveProperty("storedName");

    const record = await db.prisma.document.findUniqueOrThrow({
      where: { id: documentOf(upload).id },
    });
    expect(record.storedName).toMatch(/^[0-9a-f-]{36}\.pdf$/);
    expect(readFileSync(join(server.uploadDir, record.storedName))).toEqual(pdf);

    const download = await api()
      .get(`/api/shipments/${shipmentId}/documents/${record.id}/download`)
      .buffer(true)
      .parse((res, done) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => done(null, Buffer.concat(chunks)));
      })
      .expect(200);
    expect(download.headers["content-type"]).toBe("application/pdf");
    expect(download.headers["content-disposition"]).toContain("attachment");
    expect(download.headers["content-disposition"]).toContain(
      "filename*=UTF-8''Bill%20of%20lading%20%E2%80%93%20M%C3%A4rz.pdf",
    );
    expect(download.headers["x-content-type-options"]).toBe("nosniff");
    expect(download.body).toEqual(pdf);

    const detail = await api().get(`/api/shipments/${shipmentId}`).expect(200);
    expect(detailOf(detail).documents.map((d: { id: number }) => d.id)).toContain(record.id);
  });

  it("accepts PNG images", async () => {
    const upload = await api()
      .post(`/api/shipments/${shipmentId}/documents`)
      .attach("file", png, { filename: "seal.png", contentType: "image/png" })
      .expect(201);
    expect(documentOf(upload).mimeType).toBe("image/png");
  });

  it("refuses a type that is not accepted (415) and stores nothing", async () => {
    const before = storedFiles();
    const response = await api()
      .post(`/api/shipments/${shipmentId}/documents`)
      .attach("file", Buffer.from("#!/bin/sh\necho hi\n"), {
        filename: "run.sh",
        contentType: "application/x-sh",
      })
      .expect(415);
    expect(response.body).toMatchObject({
      code: "UNSUPPORTED_FILE_TYPE",
      fields: { file: ["must be a PDF, PNG or JPEG file"] },
    });
    expect(storedFiles()).toEqual(before);
  });

  it("refuses a file whose content does not match its declared type (415) and removes it", async () => {
    const before = storedFiles();
    const response = await api()
      .post(`/api/shipments/${shipmentId}/documents`)
      .attach("file", Buffer.from("<html>not a pdf</html>"), {
        filename: "invoice.pdf",
        contentType: "application/pdf",
      })
      .expect(415);
    expect(errorOf(response).fields).toEqual({ file: ["content does not match its type"] });
    expect(storedFiles()).toEqual(before);
  });

  it("refuses a file over the size limit (413) and removes the partial file", async () => {
    const before = storedFiles();
    const big = Buffer.concat([Buffer.from("%PDF-1.4\n"), Buffer.alloc(MAX_BYTES + 1, 0x20)]);
    const response = await api()
      .post(`/api/shipments/${shipmentId}/documents`)
      .attach("file", big, { filename: "scan.pdf", contentType: "application/pdf" })
      .expect(413);
    expect(errorOf(response).code).toBe("FILE_TOO_LARGE");
    expect(storedFiles()).toEqual(before);
    expect(await db.prisma.document.count({ where: { originalName: "scan.pdf" } })).toBe(0);
  });

  it("answers 400 when no file is sent and 404 for an unknown shipment", async () => {
    const none = await api()
      .post(`/api/shipments/${shipmentId}/documents`)
      .field("note", "x")
      .expect(400);
    expect(errorOf(none).fields).toEqual({ file: ["is required"] });
    await api()
      .post("/api/shipments/987654/documents")
      .attach("file", pdf, { filename: "a.pdf", contentType: "application/pdf" })
      .expect(404);
  });

  it("answers 404 for an unknown document, one of another shipment, or a file gone from disk", async () => {
    await api().get(`/api/shipments/${shipmentId}/documents/999999/download`).expect(404);
    const other = await db.prisma.shipment.create({
      data: {
        trackingNumber: "QGO-DOCS-0002",
        customerName: "Other",
        origin: "A",
        destination: "B",
        weightKg: 1,
      },
    });
    const upload = await api()
      .post(`/api/shipments/${shipmentId}/documents`)
      .attach("file", pdf, { filename: "x.pdf", contentType: "application/pdf" })
      .expect(201);
    await api()
      .get(`/api/shipments/${other.id}/documents/${documentOf(upload).id}/download`)
      .expect(404);

    const record = await db.prisma.document.findUniqueOrThrow({
      where: { id: documentOf(upload).id },
    });
    rmSync(join(server.uploadDir, record.storedName));
    const gone = await api()
      .get(`/api/shipments/${shipmentId}/documents/${record.id}/download`)
      .expect(404);
    expect(errorOf(gone).code).toBe("FILE_MISSING");
  });
});
