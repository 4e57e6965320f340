// A stand-in for the network only: `fetch` is replaced, everything above it (the API client,
// hooks, components, router) is the real code.
import { vi } from "vitest";
import type { Shipment, ShipmentDetail } from "../../src/api/types";

export interface ApiCall {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  /** Parsed JSON for JSON bodies, the FormData for uploads, undefined without a body. */
  body: unknown;
}

export type ApiHandler = (call: ApiCall) => Response | Promise<Response>;

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

/** Replaces `fetch`; returns the list the calls are recorded in, in order. */
export function stubApi(handler: ApiHandler): ApiCall[] {
  const calls: ApiCall[] = [];
  const fetchStub = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const target = input instanceof Request ? input.url : input instanceof URL ? input.href : input;
    const url = new URL(target, "http://dashboard.test");
    let body: unknown;
    if (typeof init.body === "string") body = JSON.parse(init.body) as unknown;
    else if (init.body !== undefined && init.body !== null) body = init.body;
    const call: ApiCall = {
      method: (init.method ?? "GET").toUpperCase(),
      path: url.pathname,
      query: url.searchParams,
      headers: new Headers(init.headers),
      body,
    };
    calls.push(call);
    return handler(call);
  });
  vi.stubGlobal("fetch", fetchStub);
  return calls;
}

/** A promise the test settles itself, to observe the UI while a request is in flight. */
export function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

let nextId = 1;

export function makeShipment(overrides: Partial<Shipment> = {}): Shipment {
  const id = overrides.id ?? nextId++;
  return {
    id,
    trackingNumber: `QGO-20261127-${String(id).padStart(8, "A")}`,
    customerName: "Baltic Timber Ltd",
    customerEmail: "ops@baltictimber.example",
    origin: "Riga",
    destination: "Rotterdam",
    weightKg: 1250.5,
    status: "CREATED",
    createdAt: "2026-11-20T08:30:00.000Z",
    updatedAt: "2026-11-20T08:30:00.000Z",
    ...overrides,
  };
}

export function makeDetail(overrides: Partial<ShipmentDetail> = {}): ShipmentDetail {
  return { ...makeShipment(overrides), events: [], documents: [], ...overrides };
}
