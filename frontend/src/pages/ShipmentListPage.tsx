import { useEffect, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { listShipments } from "../api/client";
import { SHIPMENT_STATUSES, type ShipmentStatus } from "../api/types";
import { ErrorPanel, LoadingIndicator } from "../components/Feedback";
import { Pagination } from "../components/Pagination";
import { StatusBadge } from "../components/StatusBadge";
import { formatDateTime, formatWeight } from "../domain/format";
import { STATUS_LABELS } from "../domain/status";
import { useApiResource } from "../hooks/useApiResource";

export const PAGE_SIZE = 20;

function parseStatus(value: string | null): ShipmentStatus | undefined {
  return SHIPMENT_STATUSES.find((status) => status === value);
}

function parsePage(value: string | null): number {
  const page = Number(value);
  return Number.isInteger(page) && page >= 1 ? page : 1;
}

/** Shipments with a status filter, a search box and pages; the filters live in the URL. */
export function ShipmentListPage() {
  const [params, setParams] = useSearchParams();
  const status = parseStatus(params.get("status"));
  const search = params.get("search") ?? "";
  const page = parsePage(params.get("page"));
  const [searchInput, setSearchInput] = useState(search);
  // Back/forward navigation changes the URL's search: show it in the box too.
  useEffect(() => setSearchInput(search), [search]);

  const query = { status, search, page, pageSize: PAGE_SIZE };
  const shipments = useApiResource(JSON.stringify(query), (signal) => listShipments(query, signal));

  function update(changes: { status?: string; search?: string; page?: number }) {
    const next = new URLSearchParams(params);
    for (const [name, value] of Object.entries(changes)) {
      if (value === undefined || value === "" || (name === "page" && value === 1))
        next.delete(name);
      else next.set(name, String(value));
    }
    // A new filter starts again from the first page.
    if (changes.page === undefined) next.delete("page");
    setParams(next);
  }

  function submitSearch(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    update({ search: searchInput.trim() });
  }

  return (
    <section aria-labelledby="shipments-title">
      <div className="page-head">
        <h1 id="shipments-title">Shipments</h1>
        <Link className="button" to="/shipments/new">
          New shipment
        </Link>
      </div>

      <div className="toolbar">
        <div className="field">
          <label htmlFor="status-filter">Status</label>
          <select
            id="status-filter"
            value={status ?? ""}
            onChange={(event) => update({ status: event.target.value })}
          >
            <option value="">All statuses</option>
            {SHIPMENT_STATUSES.map((option) => (
              <option key={option} value={option}>
                {STATUS_LABELS[option]}
              </option>
            ))}
          </select>
        </div>
        <form role="search" className="search" onSubmit={submitSearch}>
          <div className="field grow">
            <label htmlFor="shipment-search">Search</label>
            <input
              id="shipment-search"
              type="search"
              placeholder="Tracking number, customer, origin or destination"
              value={searchInput}
              onChange={(event) => setSearchInput(event.target.value)}
            />
          </div>
          <button type="submit" className="button secondary">
            Search
          </button>
        </form>
      </div>

      {shipments.kind === "loading" ? <LoadingIndicator label="Loading shipments…" /> : null}
      {shipments.kind === "error" ? (
        <ErrorPanel
          title="Could not load shipments"
          error={shipments.error}
          onRetry={shipments.reload}
        />
      ) : null}
      {shipments.kind === "ready" ? (
        shipments.data.items.length === 0 ? (
          <p className="empty">
            {status || search ? "No shipments match these filters." : "No shipments yet."}
          </p>
        ) : (
          <>
            <div className="table-wrap">
              <table className="shipments">
                <thead>
                  <tr>
                    <th scope="col">Tracking number</th>
                    <th scope="col">Customer</th>
                    <th scope="col">Route</th>
                    <th scope="col">Weight</th>
                    <th scope="col">Status</th>
                    <th scope="col">Created</th>
                  </tr>
                </thead>
                <tbody>
                  {shipments.data.items.map((shipment) => (
                    <tr key={shipment.id}>
                      <td className="nowrap">
                        <Link to={`/shipments/${shipment.id}`}>{shipment.trackingNumber}</Link>
                      </td>
                      <td>{shipment.customerName}</td>
                      <td>
                        {shipment.origin} → {shipment.destination}
                      </td>
                      <td className="nowrap">{formatWeight(shipment.weightKg)}</td>
                      <td>
                        <StatusBadge status={shipment.status} />
                      </td>
                      <td className="nowrap">{formatDateTime(shipment.createdAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pagination
              page={shipments.data.page}
              pageSize={shipments.data.pageSize}
              total={shipments.data.total}
              onPageChange={(next) => update({ page: next })}
            />
          </>
        )
      ) : null}
    </section>
  );
}
