import type { TrackingEvent } from "../api/types";
import { formatDateTime } from "../domain/format";
import { StatusBadge } from "./StatusBadge";

/** Tracking events, newest first. */
export function Timeline({ events }: { events: TrackingEvent[] }) {
  if (events.length === 0) return <p className="muted">No tracking events yet.</p>;
  const ordered = [...events].sort(
    (a, b) => Date.parse(b.occurredAt) - Date.parse(a.occurredAt) || b.id - a.id,
  );
  return (
    <ol className="timeline" aria-label="Tracking timeline">
      {ordered.map((event) => (
        <li key={event.id} className="timeline-item">
          <div className="timeline-head">
            <time dateTime={event.occurredAt}>{formatDateTime(event.occurredAt)}</time>
            {event.status ? <StatusBadge status={event.status} /> : null}
          </div>
          <p className="timeline-description">{event.description}</p>
          {event.location ? <p className="muted">{event.location}</p> : null}
        </li>
      ))}
    </ol>
  );
}
