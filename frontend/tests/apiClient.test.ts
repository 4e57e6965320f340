import { describe, expect, it } from "vitest";
import {
  ApiError,
  documentDownloadUrl,
  getShipment,
  listShipments,
  shipmentQueryString,
} from "../src/api/client";
import { json, stubApi } from "./support/fakeApi";

describe("API client", () => {
  it("builds the list query from the filters that are set", () => {
    expect(shipmentQueryString({})).toBe("");
    expect(shipmentQueryString({ search: "   ", page: 1, pageSize: 20 })).toBe(
      "?page=1&pageSize=20",
    );
    expect(shipmentQueryString({ status: "AT_CUSTOMS", search: " Müller & Söhne " })).toBe(
      "?status=AT_CUSTOMS&search=M%C3%BCller+%26+S%C3%B6hne",
    );
  });

  it("calls relative /api paths and asks for JSON", async () => {
    const calls = stubApi(() => json({ items: [], total: 0, page: 1, pageSize: 20 }));
    await listShipments({ status: "CREATED", page: 1, pageSize: 20 });
    expect(calls[0]?.path).toBe("/api/shipments");
    expect(calls[0]?.headers.get("Accept")).toBe("application/json");
    expect(documentDownloadUrl(4, 9)).toBe("/api/shipments/4/documents/9/download");
  });

  it("turns a 400 body into an ApiError with normalised field errors", async () => {
    stubApi(() =>
      json(
        {
          error: "Validation failed",
          fields: { origin: ["Required"], weightKg: "Too heavy", junk: 3 },
        },
        400,
      ),
    );
    const error = await listShipments({}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({
      status: 400,
      message: "Validation failed",
      fields: { origin: ["Required"], weightKg: ["Too heavy"] },
    });
  });

  it("keeps the status line when an error body is not JSON", async () => {
    stubApi(() => new Response("<h1>504</h1>", { status: 504, statusText: "Gateway Time-out" }));
    await expect(getShipment(1)).rejects.toMatchObject({
      status: 504,
      message: "The server answered 504 Gateway Time-out.",
      fields: {},
    });
  });

  it("lets a cancelled request stay a cancellation rather than a network error", async () => {
    stubApi(() => Promise.reject(new DOMException("The operation was aborted.", "AbortError")));
    await expect(getShipment(1)).rejects.toMatchObject({ name: "AbortError" });
  });
});
