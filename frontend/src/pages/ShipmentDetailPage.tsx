import { Link, useLocation, useParams } from "react-router";
import { getShipment } from "../api/client";
import { AddEventForm } from "../components/AddEventForm";
import { DocumentsPanel } from "../components/DocumentsPanel";
import { ErrorPanel, LoadingIndicator } from "../components/Feedback";
import { StatusBadge } from "../components/StatusBadge";
import { StatusChangeForm } from "../components/StatusChangeForm";
import { Timeline } from "../components/Timeline";
import { formatDateTime, formatWeight } from "../domain/format";
import { isFinalStatus } from "../domain/status";
import { useApiResource } from "../hooks/useApiResource";

export function ShipmentDetailPage() {
  const { id = "" } = useParams();
  const location = useLocation();
  const justCreated = (location.state as { created?: boolean } | null)?.created === true;
  const shipment = useApiResource(id, (signal) => getShipment(id, signal));

  return (
    <section aria-labelledby="shipment-title">
      <p>
        <Link to="/">← All shipments</Link>
      </p>
      {shipment.kind === "loading" ? <LoadingIndicator label="Loading shipment…" /> : null}
      {shipment.kind === "error" ? (
        shipment.error.status === 404 ? (
          <div className="error-panel" role="alert">
            <strong>Shipment not found</strong>
            <p>There is no shipment with id {id}. It may have been removed.</p>
          </div>
        ) : (
          <ErrorPanel
            title="Could not load the shipment"
            error={shipment.error}
            onRetry={shipment.reload}
          />
        )
      ) : null}
      {shipment.kind === "ready" ? (
        <>
          {justCreated ? (
            <p className="notice" role="status">
              Shipment {shipment.data.trackingNumber} created.
            </p>
          ) : null}
          <div className="title-row">
            <h1 id="shipment-title">{shipment.data.trackingNumber}</h1>
            <StatusBadge status={shipment.data.status} />
          </div>
          <dl className="facts">
            <div>
              <dt>Customer</dt>
              <dd>
                {shipment.data.customerName}
                {shipment.data.customerEmail ? (
                  <span className="muted"> · {shipment.data.customerEmail}</span>
                ) : null}
              </dd>
            </div>
            <div>
              <dt>Route</dt>
              <dd>
                {shipment.data.origin} → {shipment.data.destination}
              </dd>
            </div>
            <div>
              <dt>Weight</dt>
              <dd>{formatWeight(shipment.data.weightKg)}</dd>
            </div>
            <div>
              <dt>Created</dt>
              <dd>{formatDateTime(shipment.data.createdAt)}</dd>
            </div>
          </dl>

          <div className="columns">
            <section className="card" aria-labelledby="timeline-title">
              <h2 id="timeline-title">Tracking timeline</h2>
              <Timeline events={shipment.data.events} />
              {isFinalStatus(shipment.data.status) ? null : (
                <AddEventForm shipmentId={shipment.data.id} onAdded={shipment.reload} />
              )}
            </section>
            <div className="stack">
              <section className="card" aria-labelledby="status-title">
                <h2 id="status-title">Status</h2>
                <StatusChangeForm
                  key={shipment.data.status}
                  shipmentId={shipment.data.id}
                  status={shipment.data.status}
                  allowed={shipment.data.allowedNextStatuses}
                  onChanged={shipment.reload}
                />
              </section>
              <section className="card" aria-labelledby="documents-title">
                <h2 id="documents-title">Documents</h2>
                <DocumentsPanel
                  shipmentId={shipment.data.id}
                  documents={shipment.data.documents}
                  onUploaded={shipment.reload}
                />
              </section>
            </div>
          </div>
        </>
      ) : null}
    </section>
  );
}
