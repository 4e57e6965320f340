import { useRef, useState, type FormEvent } from "react";
import { ApiError, documentDownloadUrl, uploadDocument } from "../api/client";
import type { ShipmentDocument } from "../api/types";
import { formatBytes, formatDateTime } from "../domain/format";
import { FormSubmit } from "./FormSubmit";

// What the backend accepts (backend/src/routes/documents.ts); it checks the content too.
const ACCEPTED_TYPES = "application/pdf,image/png,image/jpeg,.pdf,.png,.jpg,.jpeg";

export function DocumentsPanel({
  shipmentId,
  documents,
  onUploaded,
}: {
  shipmentId: number;
  documents: ShipmentDocument[];
  onUploaded: () => void;
}) {
  const fileInput = useRef<HTMLInputElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const file = fileInput.current?.files?.[0];
    if (!file) {
      setError("Choose a file to upload.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await uploadDocument(shipmentId, file);
      if (fileInput.current) fileInput.current.value = "";
      onUploaded();
    } catch (caught) {
      setError(caught instanceof ApiError ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div>
      {documents.length === 0 ? (
        <p className="muted">No documents uploaded yet.</p>
      ) : (
        <ul className="documents" aria-label="Documents">
          {documents.map((document) => (
            <li key={document.id}>
              <a
                href={documentDownloadUrl(shipmentId, document.id)}
                download={document.originalName}
              >
                {document.originalName}
              </a>
              <span className="muted">
                {formatBytes(document.sizeBytes)} · {formatDateTime(document.createdAt)}
              </span>
            </li>
          ))}
        </ul>
      )}
      <form
        className="inline-form"
        onSubmit={(event) => void submit(event)}
        aria-label="Upload document"
      >
        <div className="field grow">
          <label htmlFor="document-file">Document</label>
          <input
            id="document-file"
            ref={fileInput}
            type="file"
            name="file"
            accept={ACCEPTED_TYPES}
            aria-describedby="document-file-hint"
          />
          <small id="document-file-hint" className="hint">
            PDF, PNG or JPEG.
          </small>
        </div>
        <FormSubmit busy={busy} label="Upload" busyLabel="Uploading…" error={error} />
      </form>
    </div>
  );
}
