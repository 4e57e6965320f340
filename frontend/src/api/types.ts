// Shapes of the QGO Cargo API (backend/src/routes, backend/src/http/schemas.ts). Dates arrive
// as ISO strings; the weight as a number (the backend converts Prisma's Decimal).

export const SHIPMENT_STATUSES = [
  "CREATED",
  "IN_TRANSIT",
  "AT_CUSTOMS",
  "DELIVERED",
  "CANCELLED",
] as const;

export type ShipmentStatus = (typeof SHIPMENT_STATUSES)[number];

export interface Shipment {
  id: number;
  trackingNumber: string;
  customerName: string;
  customerEmail: string | null;
  origin: string;
  destination: string;
  weightKg: number;
  status: ShipmentStatus;
  createdAt: string;
  updatedAt: string;
}

export interface TrackingEvent {
  id: number;
  shipmentId: number;
  /** Set when the event records a status change. */
  status: ShipmentStatus | null;
  location: string | null;
  description: string;
  occurredAt: string;
  createdAt: string;
}

export interface ShipmentDocument {
  id: number;
  shipmentId: number;
  originalName: string;
  mimeType: string;
  sizeBytes: number;
  createdAt: string;
}

export interface ShipmentDetail extends Shipment {
  /** The backend's own list of valid next statuses (authoritative when present). */
  allowedNextStatuses?: ShipmentStatus[] | undefined;
  events: TrackingEvent[];
  documents: ShipmentDocument[];
}

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  pageSize: number;
  totalPages?: number | undefined;
}

export interface ShipmentQuery {
  status?: ShipmentStatus | undefined;
  search?: string | undefined;
  page?: number | undefined;
  pageSize?: number | undefined;
}

export interface NewShipment {
  trackingNumber?: string | undefined;
  customerName: string;
  customerEmail?: string | undefined;
  origin: string;
  destination: string;
  weightKg: number;
}

export interface StatusChange {
  status: ShipmentStatus;
  note?: string | undefined;
  location?: string | undefined;
}

export interface NewTrackingEvent {
  description: string;
  location?: string | undefined;
}

/** Field name -> messages, as in the API's error body `{ error, code, fields }`; "_" = whole body. */
export type FieldErrors = Record<string, string[]>;
