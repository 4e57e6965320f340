// Shapes of the QGO Cargo API (backend/src). Dates arrive as ISO strings; Prisma's Decimal
// weight arrives as a string, so it is typed loosely and formatted for display.

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
  weightKg: string | number;
  status: ShipmentStatus;
  createdAt: string;
  updatedAt: string;
}

export interface TrackingEvent {
  id: number;
  shipmentId: number;
  status: ShipmentStatus | null;
  location: string;
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
  events: TrackingEvent[];
  documents: ShipmentDocument[];
}

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  pageSize: number;
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
}

export interface NewTrackingEvent {
  description: string;
  location?: string | undefined;
}

/** Field name -> messages, as in the API's 400 body `{ error, fields }`. */
export type FieldErrors = Record<string, string[]>;
