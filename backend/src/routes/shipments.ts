// /api/shipments: list, get, create, change status, add a tracking event.
import { Router } from "express";
import type { PrismaClient } from "../db.js";
import { Prisma } from "../generated/prisma/client.js";
import type { Document, Shipment, TrackingEvent } from "../generated/prisma/client.js";
import {
  allowedNextStatuses,
  canTransition,
  isFinalStatus,
  type ShipmentStatus,
} from "../domain/status.js";
import { generateTrackingNumber } from "../domain/trackingNumber.js";
import { HttpError, notFound, validationError } from "../http/errors.js";
import {
  createShipmentSchema,
  idParam,
  listQuerySchema,
  statusChangeSchema,
  trackingEventSchema,
} from "../http/schemas.js";
import type { z } from "zod";

const STATUS_LABELS: Record<ShipmentStatus, string> = {
  CREATED: "Created",
  IN_TRANSIT: "In transit",
  AT_CUSTOMS: "At customs",
  DELIVERED: "Delivered",
  CANCELLED: "Cancelled",
};

export function serializeShipment(shipment: Shipment) {
  return { ...shipment, weightKg: shipment.weightKg.toNumber() };
}

/** The stored file name stays internal. */
export function serializeDocument(document: Document) {
  return {
    id: document.id,
    shipmentId: document.shipmentId,
    originalName: document.originalName,
    mimeType: document.mimeType,
    sizeBytes: document.sizeBytes,
    createdAt: document.createdAt,
  };
}

export function serializeEvent(event: TrackingEvent) {
  return event;
}

/** Parses with `schema` or throws a 400 naming the offending fields. */
export function parse<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error, where);
  return result.data;
}

export function parseId(value: unknown, name = "id"): number {
  const result = idParam.safeParse(value);
  if (!result.success) {
    throw new HttpError(400, "VALIDATION_FAILED", `Invalid ${name} in the URL.`, {
      [name]: result.error.issues.map((issue) => issue.message),
    });
  }
  return result.data;
}

function isUniqueViolation(error: unknown): boolean {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002";
}

export function shipmentsRouter(prisma: PrismaClient): Router {
  const router = Router();

  router.get("/", async (req, res) => {
    const query = parse(listQuerySchema, req.query, "query");
    const where: Prisma.ShipmentWhereInput = {};
    if (query.status) where.status = query.status;
    if (query.search) {
      // The columns use a case-insensitive collation, so `contains` ignores case.
      where.OR = (["trackingNumber", "customerName", "origin", "destination"] as const).map(
        (field) => ({
          [field]: { contains: query.search },
        }),
      );
    }
    const [total, items] = await prisma.$transaction([
      prisma.shipment.count({ where }),
      prisma.shipment.findMany({
        where,
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        skip: (query.page - 1) * query.pageSize,
        take: query.pageSize,
      }),
    ]);
    res.json({
      items: items.map(serializeShipment),
      total,
      page: query.page,
      pageSize: query.pageSize,
      totalPages: Math.max(1, Math.ceil(total / query.pageSize)),
    });
  });

  router.get("/:id", async (req, res) => {
    const id = parseId(req.params.id);
    const shipment = await prisma.shipment.findUnique({
      where: { id },
      include: {
        events: { orderBy: [{ occurredAt: "asc" }, { id: "asc" }] },
        documents: { orderBy: [{ createdAt: "desc" }, { id: "desc" }] },
      },
    });
    if (!shipment) throw notFound("Shipment");
    const { events, documents, ...rest } = shipment;
    res.json({
      ...serializeShipment(rest),
      allowedNextStatuses: allowedNextStatuses(rest.status),
      events: events.map(serializeEvent),
      documents: documents.map(serializeDocument),
    });
  });

  router.post("/", async (req, res) => {
    const input = parse(createShipmentSchema, req.body, "shipment");
    const data = (trackingNumber: string): Prisma.ShipmentCreateInput => ({
      trackingNumber,
      customerName: input.customerName,
      customerEmail: input.customerEmail ?? null,
      origin: input.origin,
      destination: input.destination,
      weightKg: new Prisma.Decimal(input.weightKg.toFixed(2)),
      events: {
        create: { status: "CREATED", location: input.origin, description: "Shipment registered" },
      },
    });
    if (input.trackingNumber) {
      try {
        const shipment = await prisma.shipment.create({ data: data(input.trackingNumber) });
        res.status(201).json(serializeShipment(shipment));
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw new HttpError(
            409,
            "DUPLICATE_TRACKING_NUMBER",
            `Tracking number ${input.trackingNumber} is already in use.`,
            { trackingNumber: ["is already in use"] },
          );
        }
        throw error;
      }
      return;
    }
    // A generated number can collide (very rarely): try a few fresh ones.
    for (let attempt = 1; ; attempt += 1) {
      try {
        const shipment = await prisma.shipment.create({ data: data(generateTrackingNumber()) });
        res.status(201).json(serializeShipment(shipment));
        return;
      } catch (error) {
        if (!isUniqueViolation(error) || attempt >= 5) throw error;
      }
    }
  });

  router.patch("/:id/status", async (req, res) => {
    const id = parseId(req.params.id);
    const change = parse(statusChangeSchema, req.body, "status change");
    const updated = await prisma.$transaction(async (tx) => {
      const current = await tx.shipment.findUnique({ where: { id } });
      if (!current) throw notFound("Shipment");
      if (!canTransition(current.status, change.status)) {
        const allowed = allowedNextStatuses(current.status);
        throw new HttpError(
          409,
          "INVALID_STATUS_TRANSITION",
          `A shipment that is ${current.status} cannot become ${change.status}` +
            (allowed.length > 0 ? ` (allowed: ${allowed.join(", ")}).` : " (it is final)."),
          { status: [`cannot change from ${current.status} to ${change.status}`] },
          { from: current.status, to: change.status, allowed },
        );
      }
      // Conditional on the status just read, so two concurrent changes cannot both succeed.
      const { count } = await tx.shipment.updateMany({
        where: { id, status: current.status },
        data: { status: change.status },
      });
      if (count === 0) {
        throw new HttpError(
          409,
          "CONCURRENT_UPDATE",
          "The shipment changed meanwhile; reload and try again.",
        );
      }
      const location =
        change.location ??
        (change.status === "DELIVERED"
          ? current.destination
          : change.status === "IN_TRANSIT"
            ? current.origin
            : null);
      await tx.trackingEvent.create({
        data: {
          shipmentId: id,
          status: change.status,
          location,
          description: change.note || `Status changed to ${STATUS_LABELS[change.status]}`,
        },
      });
      return tx.shipment.findUniqueOrThrow({ where: { id } });
    });
    res.json(serializeShipment(updated));
  });

  router.post("/:id/events", async (req, res) => {
    const id = parseId(req.params.id);
    const input = parse(trackingEventSchema, req.body, "tracking event");
    const shipment = await prisma.shipment.findUnique({ where: { id }, select: { status: true } });
    if (!shipment) throw notFound("Shipment");
    if (isFinalStatus(shipment.status)) {
      throw new HttpError(
        409,
        "SHIPMENT_CLOSED",
        `The shipment is ${shipment.status}; no more tracking events can be added.`,
      );
    }
    const event = await prisma.trackingEvent.create({
      data: {
        shipmentId: id,
        location: input.location ?? null,
        description: input.description,
        ...(input.occurredAt ? { occurredAt: input.occurredAt } : {}),
      },
    });
    res.status(201).json(serializeEvent(event));
  });

  return router;
}
