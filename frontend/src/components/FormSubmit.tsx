/** The form-level error announced to screen readers; nothing when there is none. */
export function FormError({ error }: { error: string | null | undefined }) {
  return error ? (
    <p className="form-error" role="alert">
      {error}
    </p>
  ) : null;
}

/** A form's submit button, disabled and relabelled while the request runs, and its error. */
export function FormSubmit({
  busy,
  label,
  busyLabel,
  error,
}: {
  busy: boolean;
  label: string;
  busyLabel: string;
  error: string | null | undefined;
}) {
  return (
    <>
      <button type="submit" className="button" disabled={busy}>
        {busy ? busyLabel : label}
      </button>
      <FormError error={error} />
    </>
  );
}
