// Typed views of the API's JSON bodies for the HTTP tests (supertest types bodies as `any`).
export interface ErrorBody {
  error: string;
  code: string;
  fields?: Record<string, string[]>;
  [detail: string]: unknown;
}
export interface ShipmentBody {
  id: number;
  trackingNumber: string;
  customerName: string;
  customerEmail: string | null;
  origin: string;
  destination: string;
  weightKg: number;
  status: string;
  createdAt: string;
  updatedAt: string;
}
export interface EventBody {
  id: number;
  shipmentId: number;
  status: string | null;
  location: string | null;
  description: string;
  occurredAt: string;
  createdAt: string;
}
export interface DocumentBody {
  id: number;
  shipmentId: number;
  originalName: string;
  mimeType: string;
  sizeBytes: number;
  createdAt: string;
}
export interface DetailBody extends ShipmentBody {
  allowedNextStatuses: string[];
  events: EventBody[];
  documents: DocumentBody[];
}
export interface PageBody {
  items: ShipmentBody[];
  total: number;
  page: number;
  pageSize: number;
  totalPages: number;
}

type WithBody = { body: unknown };
export const errorOf = (response: WithBody) => response.body as ErrorBody;
export const shipmentOf = (response: WithBody) => response.body as ShipmentBody;
export const eventOf = (response: WithBody) => response.body as EventBody;
export const documentOf = (response: WithBody) => response.body as DocumentBody;
export const detailOf = (response: WithBody) => response.body as DetailBody;
export const pageOf = (response: WithBody) => response.body as PageBody;
