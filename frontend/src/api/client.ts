// The one module that talks to the QGO Cargo API. Every call goes to the relative `/api`
// prefix: nginx (production) and the Vite dev server (development) forward it to the backend.
import type {
  FieldErrors,
  NewShipment,
  NewTrackingEvent,
  Page,
  Shipment,
  ShipmentDetail,
  ShipmentDocument,
  ShipmentQuery,
  StatusChange,
  TrackingEvent,
} from "./types";

export const API_BASE = "/api";

/**
 * A failed API call: `status` is the HTTP status, or 0 when the server could not be reached;
 * `code` is the backend's machine-readable code (e.g. VALIDATION_FAILED), when it sent one.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly fields: FieldErrors;
  readonly code: string | undefined;

  constructor(status: number, message: string, fields: FieldErrors = {}, code?: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.fields = fields;
    this.code = code;
  }
}

interface ErrorBody {
  error?: unknown;
  code?: unknown;
  message?: unknown;
  fields?: unknown;
}

function parseFieldErrors(raw: unknown): FieldErrors {
  if (raw === null || typeof raw !== "object") return {};
  const fields: FieldErrors = {};
  for (const [name, messages] of Object.entries(raw as Record<string, unknown>)) {
    if (Array.isArray(messages)) {
      const texts = messages.filter((m): m is string => typeof m === "string");
      if (texts.length > 0) fields[name] = texts;
    } else if (typeof messages === "string") {
      fields[name] = [messages];
    }
  }
  return fields;
}

async function errorFromResponse(response: Response): Promise<ApiError> {
  const fallback = `The server answered ${response.status}${response.statusText ? ` ${response.statusText}` : ""}.`;
  let body: ErrorBody | undefined;
  try {
    body = (await response.json()) as ErrorBody;
  } catch {
    // Not JSON (a proxy's HTML error page, an empty body): keep the status line.
    return new ApiError(response.status, fallback);
  }
  const message =
    typeof body?.error === "string"
      ? body.error
      : typeof body?.message === "string"
        ? body.message
        : fallback;
  const code = typeof body?.code === "string" ? body.code : undefined;
  return new ApiError(response.status, message, parseFieldErrors(body?.fields), code);
}

async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${API_BASE}${path}`, {
      ...init,
      headers: { Accept: "application/json", ...init.headers },
    });
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === "AbortError") throw cause;
    throw new ApiError(0, "Cannot reach the QGO API. Check your connection and try again.");
  }
  if (!response.ok) throw await errorFromResponse(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

function jsonBody(method: string, body: unknown, signal?: AbortSignal): RequestInit {
  return {
    method,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  };
}

/** Query string for the list endpoint; empty filters are left out. */
export function shipmentQueryString(query: ShipmentQuery): string {
  const params = new URLSearchParams();
  if (query.status) params.set("status", query.status);
  const search = query.search?.trim();
  if (search) params.set("search", search);
  if (query.page !== undefined) params.set("page", String(query.page));
  if (query.pageSize !== undefined) params.set("pageSize", String(query.pageSize));
  const text = params.toString();
  return text ? `?${text}` : "";
}

export function listShipments(query: ShipmentQuery, signal?: AbortSignal): Promise<Page<Shipment>> {
  return request(`/shipments${shipmentQueryString(query)}`, signal ? { signal } : {});
}

export function getShipment(id: number | string, signal?: AbortSignal): Promise<ShipmentDetail> {
  return request(`/shipments/${encodeURIComponent(String(id))}`, signal ? { signal } : {});
}

export function createShipment(input: NewShipment): Promise<Shipment> {
  return request("/shipments", jsonBody("POST", input));
}

export function changeShipmentStatus(id: number, change: StatusChange): Promise<Shipment> {
  return request(`/shipments/${id}/status`, jsonBody("PATCH", change));
}

export function addTrackingEvent(id: number, event: NewTrackingEvent): Promise<TrackingEvent> {
  return request(`/shipments/${id}/events`, jsonBody("POST", event));
}

export function uploadDocument(id: number, file: File): Promise<ShipmentDocument> {
  const form = new FormData();
  form.append("file", file);
  // No Content-Type header: the browser sets multipart/form-data with its boundary.
  return request(`/shipments/${id}/documents`, { method: "POST", body: form });
}

export function documentDownloadUrl(shipmentId: number, documentId: number): string {
  return `${API_BASE}/shipments/${shipmentId}/documents/${documentId}/download`;
}
