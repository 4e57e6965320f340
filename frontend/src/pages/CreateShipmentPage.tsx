import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";
import { ApiError, createShipment } from "../api/client";
import type { FieldErrors, NewShipment } from "../api/types";
import { FormField } from "../components/FormField";
import { FormError } from "../components/FormSubmit";

const EMPTY_FORM = {
  trackingNumber: "",
  customerName: "",
  customerEmail: "",
  origin: "",
  destination: "",
  weightKg: "",
};

type FormValues = typeof EMPTY_FORM;

function toRequest(values: FormValues): NewShipment {
  const optional = (value: string) => (value.trim() === "" ? undefined : value.trim());
  return {
    trackingNumber: optional(values.trackingNumber),
    customerName: values.customerName.trim(),
    customerEmail: optional(values.customerEmail),
    origin: values.origin.trim(),
    destination: values.destination.trim(),
    // The API validates the weight; an empty or non-numeric entry is sent as such so the
    // answer names the problem.
    weightKg: values.weightKg.trim() === "" ? Number.NaN : Number(values.weightKg),
  };
}

/** Creates a shipment; the API's validation errors are shown next to their fields. */
export function CreateShipmentPage() {
  const navigate = useNavigate();
  const [values, setValues] = useState<FormValues>(EMPTY_FORM);
  const [fields, setFields] = useState<FieldErrors>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  function field(name: keyof FormValues) {
    return {
      name,
      value: values[name],
      errors: fields[name],
      onChange: (event: { target: { value: string } }) =>
        setValues((current) => ({ ...current, [name]: event.target.value })),
    };
  }

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setFields({});
    try {
      const shipment = await createShipment(toRequest(values));
      await navigate(`/shipments/${shipment.id}`, { state: { created: true } });
    } catch (caught) {
      if (caught instanceof ApiError) {
        setError(caught.status === 400 ? "Please correct the highlighted fields." : caught.message);
        setFields(caught.fields);
        // Field errors for names this form does not show still have to reach the user.
        const shown = new Set(Object.keys(EMPTY_FORM));
        const other = Object.entries(caught.fields).filter(([name]) => !shown.has(name));
        if (other.length > 0) {
          setError(
            `${caught.message} ${other
              .map(([name, messages]) =>
                name === "_" ? messages.join(", ") : `${name}: ${messages.join(", ")}`,
              )
              .join("; ")}`,
          );
        }
      } else {
        setError(String(caught));
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="create-title" className="narrow">
      <p>
        <Link to="/">← All shipments</Link>
      </p>
      <h1 id="create-title">New shipment</h1>
      <form noValidate onSubmit={(event) => void submit(event)} aria-label="New shipment">
        <FormError error={error} />
        <FormField
          label="Tracking number"
          hint="6-32 letters, digits or dashes. Leave empty to have one assigned."
          autoComplete="off"
          {...field("trackingNumber")}
        />
        <FormField
          label="Customer name"
          required
          autoComplete="organization"
          {...field("customerName")}
        />
        <FormField
          label="Customer email"
          type="email"
          autoComplete="email"
          {...field("customerEmail")}
        />
        <div className="field-row">
          <FormField label="Origin" required {...field("origin")} />
          <FormField label="Destination" required {...field("destination")} />
        </div>
        <FormField label="Weight (kg)" required inputMode="decimal" {...field("weightKg")} />
        <div className="form-actions">
          <button type="submit" className="button" disabled={busy}>
            {busy ? "Creating…" : "Create shipment"}
          </button>
          <Link to="/" className="button secondary">
            Cancel
          </Link>
        </div>
      </form>
    </section>
  );
}
