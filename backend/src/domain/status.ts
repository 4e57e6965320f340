// The shipment lifecycle: one step forward along CREATED -> IN_TRANSIT -> AT_CUSTOMS ->
// DELIVERED, or CANCELLED from any state that is not final.
import { ShipmentStatus } from "../generated/prisma/enums.js";

export { ShipmentStatus };

export const SHIPMENT_STATUSES = Object.values(ShipmentStatus);

const NEXT_STATUSES: Record<ShipmentStatus, readonly ShipmentStatus[]> = {
  CREATED: [ShipmentStatus.IN_TRANSIT, ShipmentStatus.CANCELLED],
  IN_TRANSIT: [ShipmentStatus.AT_CUSTOMS, ShipmentStatus.CANCELLED],
  AT_CUSTOMS: [ShipmentStatus.DELIVERED, ShipmentStatus.CANCELLED],
  DELIVERED: [],
  CANCELLED: [],
};

export function allowedNextStatuses(from: ShipmentStatus): readonly ShipmentStatus[] {
  return NEXT_STATUSES[from];
}

export function canTransition(from: ShipmentStatus, to: ShipmentStatus): boolean {
  return NEXT_STATUSES[from].includes(to);
}

export function isFinalStatus(status: ShipmentStatus): boolean {
  return NEXT_STATUSES[status].length === 0;
}
