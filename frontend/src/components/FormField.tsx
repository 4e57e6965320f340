import { useId, type InputHTMLAttributes } from "react";

/** A labelled input whose error messages are announced and tied to it with aria-describedby. */
export function FormField({
  label,
  errors,
  hint,
  wide = false,
  ...input
}: {
  label: string;
  errors?: string[] | undefined;
  hint?: string | undefined;
  /** Take the free width of a row of fields. */
  wide?: boolean;
} & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  const errorId = `${id}-error`;
  const hintId = `${id}-hint`;
  const hasErrors = errors !== undefined && errors.length > 0;
  const describedBy = [hint ? hintId : null, hasErrors ? errorId : null].filter(Boolean).join(" ");
  return (
    <div className={`field${wide ? " grow" : ""}${hasErrors ? " field-invalid" : ""}`}>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        aria-invalid={hasErrors || undefined}
        aria-describedby={describedBy || undefined}
        {...input}
      />
      {hint ? (
        <small id={hintId} className="hint">
          {hint}
        </small>
      ) : null}
      {hasErrors ? (
        <ul id={errorId} className="field-errors">
          {errors.map((message) => (
            <li key={message}>{message}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
