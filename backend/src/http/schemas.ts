// Request validation (zod). Field messages are shown next to form fields by the dashboard.
import { z } from "zod";
import { SHIPMENT_STATUSES, type ShipmentStatus } from "../domain/status.js";
import { TRACKING_NUMBER_PATTERN } from "../domain/trackingNumber.js";

const statusSchema = z.enum(SHIPMENT_STATUSES as [ShipmentStatus, ...ShipmentStatus[]], {
  error: `must be one of ${SHIPMENT_STATUSES.join(", ")}`,
});

const text = (label: string, max: number) =>
  z
    .string({ error: `${label} is required` })
    .trim()
    .min(1, `${label} is required`)
    .max(max, `${label} must be at most ${max} characters`);

export const idParam = z.coerce
  .number({ error: "must be a number" })
  .int("must be a whole number")
  .positive("must be a positive number")
  .max(2_147_483_647, "is too large");

export const listQuerySchema = z.object({
  status: statusSchema.optional(),
  search: z.string().trim().max(100, "search must be at most 100 characters").optional(),
  page: z.coerce
    .number({ error: "page must be a number" })
    .int()
    .min(1, "page must be at least 1")
    .default(1),
  pageSize: z.coerce
    .number({ error: "pageSize must be a number" })
    .int()
    .min(1, "pageSize must be at least 1")
    .max(100, "pageSize must be at most 100")
    .default(20),
});

export const createShipmentSchema = z.object({
  trackingNumber: z
    .string()
    .trim()
    .toUpperCase()
    .regex(TRACKING_NUMBER_PATTERN, "tracking number must be 6-32 letters, digits or dashes")
    .optional(),
  customerName: text("customer name", 120),
  customerEmail: z.preprocess(
    (value) => (value === "" || value === null ? undefined : value),
    z
      .email({ error: "customer email must be a valid email address" })
      .max(254, "customer email must be at most 254 characters")
      .optional(),
  ),
  origin: text("origin", 120),
  destination: text("destination", 120),
  weightKg: z.coerce
    .number({ error: "weight must be a number" })
    .positive("weight must be greater than 0")
    .max(99_999_999.99, "weight must be less than 100,000,000 kg")
    // Stored as DECIMAL(10, 2): round here so the answer shows what was stored.
    .transform((value) => Math.round(value * 100) / 100),
});

export const statusChangeSchema = z.object({
  status: statusSchema,
  location: text("location", 120).optional(),
  note: z.string().trim().max(500, "note must be at most 500 characters").optional(),
});

export const trackingEventSchema = z.object({
  description: text("description", 500),
  location: text("location", 120).optional(),
  occurredAt: z.coerce.date({ error: "occurredAt must be a date" }).optional(),
});

export type ListQuery = z.infer<typeof listQuerySchema>;
export type CreateShipmentInput = z.infer<typeof createShipmentSchema>;
export type StatusChangeInput = z.infer<typeof statusChangeSchema>;
export type TrackingEventInput = z.infer<typeof trackingEventSchema>;
