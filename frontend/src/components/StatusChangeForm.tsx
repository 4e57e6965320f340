import { useState, type FormEvent } from "react";
import { ApiError, changeShipmentStatus } from "../api/client";
import type { ShipmentStatus } from "../api/types";
import { STATUS_LABELS, allowedNextStatuses } from "../domain/status";
import { FormSubmit } from "./FormSubmit";

/**
 * Offers only the transitions the lifecycle allows from the current status: the backend's
 * own list when the shipment came with one, else the same rules kept in domain/status.ts.
 */
export function StatusChangeForm({
  shipmentId,
  status,
  allowed,
  onChanged,
}: {
  shipmentId: number;
  status: ShipmentStatus;
  allowed?: readonly ShipmentStatus[] | undefined;
  onChanged: () => void;
}) {
  const options = allowed ?? allowedNextStatuses(status);
  const [next, setNext] = useState<ShipmentStatus | "">("");
  const [note, setNote] = useState("");
  const [location, setLocation] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  if (options.length === 0) {
    return (
      <p className="muted">
        This shipment is {STATUS_LABELS[status].toLowerCase()}; its status can no longer change.
      </p>
    );
  }

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (next === "") {
      setError("Choose the new status first.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const trimmedNote = note.trim();
      const trimmedLocation = location.trim();
      await changeShipmentStatus(shipmentId, {
        status: next,
        ...(trimmedNote ? { note: trimmedNote } : {}),
        ...(trimmedLocation ? { location: trimmedLocation } : {}),
      });
      setNext("");
      setNote("");
      setLocation("");
      onChanged();
    } catch (caught) {
      setError(caught instanceof ApiError ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form
      className="inline-form"
      onSubmit={(event) => void submit(event)}
      aria-label="Change status"
    >
      <div className="field">
        <label htmlFor="next-status">New status</label>
        <select
          id="next-status"
          value={next}
          onChange={(event) => setNext(event.target.value as ShipmentStatus | "")}
        >
          <option value="">Choose…</option>
          {options.map((option) => (
            <option key={option} value={option}>
              {STATUS_LABELS[option]}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="status-location">Location (optional)</label>
        <input
          id="status-location"
          value={location}
          maxLength={120}
          onChange={(event) => setLocation(event.target.value)}
        />
      </div>
      <div className="field grow">
        <label htmlFor="status-note">Note (optional)</label>
        <input
          id="status-note"
          value={note}
          maxLength={500}
          onChange={(event) => setNote(event.target.value)}
        />
      </div>
      <FormSubmit busy={busy} label="Update status" busyLabel="Updating…" error={error} />
    </form>
  );
}
