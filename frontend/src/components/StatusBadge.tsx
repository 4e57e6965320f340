import type { ShipmentStatus } from "../api/types";
import { STATUS_LABELS } from "../domain/status";

export function StatusBadge({ status }: { status: ShipmentStatus }) {
  return <span className={`badge badge-${status.toLowerCase()}`}>{STATUS_LABELS[status]}</span>;
}
