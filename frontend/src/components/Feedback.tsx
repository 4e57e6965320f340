import type { ApiError } from "../api/client";

export function LoadingIndicator({ label }: { label: string }) {
  return (
    <div className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

export function ErrorPanel({
  title,
  error,
  onRetry,
}: {
  title: string;
  error: ApiError;
  onRetry?: (() => void) | undefined;
}) {
  return (
    <div className="error-panel" role="alert">
      <strong>{title}</strong>
      <p>{error.message}</p>
      {onRetry ? (
        <button type="button" className="button secondary" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}
