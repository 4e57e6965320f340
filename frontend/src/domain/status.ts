import type { ShipmentStatus } from "../api/types";

// The shipment lifecycle, as the backend enforces it: one step forward along
// CREATED -> IN_TRANSIT -> AT_CUSTOMS -> DELIVERED, or CANCELLED from any state that is not final.
const TRANSITIONS: Record<ShipmentStatus, readonly ShipmentStatus[]> = {
  CREATED: ["IN_TRANSIT", "CANCELLED"],
  IN_TRANSIT: ["AT_CUSTOMS", "CANCELLED"],
  AT_CUSTOMS: ["DELIVERED", "CANCELLED"],
  DELIVERED: [],
  CANCELLED: [],
};

export const STATUS_LABELS: Record<ShipmentStatus, string> = {
  CREATED: "Created",
  IN_TRANSIT: "In transit",
  AT_CUSTOMS: "At customs",
  DELIVERED: "Delivered",
  CANCELLED: "Cancelled",
};

export function allowedNextStatuses(current: ShipmentStatus): readonly ShipmentStatus[] {
  return TRANSITIONS[current];
}

export function isFinalStatus(status: ShipmentStatus): boolean {
  return TRANSITIONS[status].length === 0;
}
