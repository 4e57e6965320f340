import { useState, type FormEvent } from "react";
import { ApiError, addTrackingEvent } from "../api/client";
import type { FieldErrors } from "../api/types";
import { FormField } from "./FormField";
import { FormSubmit } from "./FormSubmit";

export function AddEventForm({ shipmentId, onAdded }: { shipmentId: number; onAdded: () => void }) {
  const [description, setDescription] = useState("");
  const [location, setLocation] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<FieldErrors>({});

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setFields({});
    try {
      const trimmedLocation = location.trim();
      await addTrackingEvent(shipmentId, {
        description: description.trim(),
        ...(trimmedLocation ? { location: trimmedLocation } : {}),
      });
      setDescription("");
      setLocation("");
      onAdded();
    } catch (caught) {
      if (caught instanceof ApiError) {
        setError(caught.message);
        setFields(caught.fields);
      } else {
        setError(String(caught));
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <form
      className="inline-form"
      onSubmit={(event) => void submit(event)}
      aria-label="Add tracking event"
    >
      <FormField
        label="Event"
        name="description"
        wide
        value={description}
        onChange={(event) => setDescription(event.target.value)}
        errors={fields.description}
      />
      <FormField
        label="Location"
        name="location"
        value={location}
        onChange={(event) => setLocation(event.target.value)}
        errors={fields.location}
      />
      <FormSubmit busy={busy} label="Add event" busyLabel="Adding…" error={error} />
    </form>
  );
}
