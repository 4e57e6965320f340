import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { ShipmentDetail, ShipmentStatus } from "../src/api/types";
import { json, makeDetail, stubApi } from "./support/fakeApi";
import { renderApp } from "./support/renderApp";

/** A tiny in-memory backend for one shipment, so that a change is visible on the reload. */
function serveShipment(initial: ShipmentDetail) {
  const shipment = structuredClone(initial);
  const calls = stubApi((call) => {
    const base = `/api/shipments/${shipment.id}`;
    if (call.method === "GET" && call.path === base) return json(shipment);
    if (call.method === "PATCH" && call.path === `${base}/status`) {
      const { status, note, location } = call.body as {
        status: ShipmentStatus;
        note?: string;
        location?: string;
      };
      shipment.status = status;
      shipment.events.push({
        id: shipment.events.length + 100,
        shipmentId: shipment.id,
        status,
        location: location ?? null,
        description: note ?? `Status changed to ${status}`,
        occurredAt: "2026-11-27T10:00:00.000Z",
        createdAt: "2026-11-27T10:00:00.000Z",
      });
      return json(shipment);
    }
    if (call.method === "POST" && call.path === `${base}/documents`) {
      const file = (call.body as FormData).get("file") as File;
      const document = {
        id: 5,
        shipmentId: shipment.id,
        originalName: file.name,
        mimeType: file.type,
        sizeBytes: file.size,
        createdAt: "2026-11-27T10:05:00.000Z",
      };
      shipment.documents.push(document);
      return json(document, 201);
    }
    return json({ error: `unexpected ${call.method} ${call.path}` }, 500);
  });
  return { shipment, calls };
}

function statusOptions(): string[] {
  const select = screen.getByLabelText("New status");
  return within(select)
    .getAllByRole("option")
    .map((option) => option.textContent ?? "")
    .filter((text) => text !== "Choose…");
}

describe("shipment page", () => {
  it("shows a loading state, then the shipment and its timeline newest first", async () => {
    serveShipment(
      makeDetail({
        id: 3,
        trackingNumber: "QGO-20261120-TIMELINE",
        status: "IN_TRANSIT",
        events: [
          {
            id: 1,
            shipmentId: 3,
            status: "CREATED",
            location: "Riga",
            description: "Shipment registered",
            occurredAt: "2026-11-20T08:30:00.000Z",
            createdAt: "2026-11-20T08:30:00.000Z",
          },
          {
            id: 2,
            shipmentId: 3,
            status: null,
            location: "Tallinn port",
            description: "Loaded on vessel",
            occurredAt: "2026-11-22T14:00:00.000Z",
            createdAt: "2026-11-22T14:00:00.000Z",
          },
        ],
      }),
    );
    renderApp("/shipments/3");
    expect(screen.getByRole("status")).toHaveTextContent("Loading shipment");

    expect(
      await screen.findByRole("heading", { level: 1, name: "QGO-20261120-TIMELINE" }),
    ).toBeInTheDocument();
    const items = within(screen.getByRole("list", { name: "Tracking timeline" })).getAllByRole(
      "listitem",
    );
    expect(items.map((item) => item.querySelector("p")?.textContent)).toEqual([
      "Loaded on vessel",
      "Shipment registered",
    ]);
    expect(items[0]).toHaveTextContent("22 Nov 2026, 14:00 UTC");
    expect(items[0]).toHaveTextContent("Tallinn port");
  });

  it.each<[ShipmentStatus, string[]]>([
    ["CREATED", ["In transit", "Cancelled"]],
    ["IN_TRANSIT", ["At customs", "Cancelled"]],
    ["AT_CUSTOMS", ["Delivered", "Cancelled"]],
  ])("offers only the valid transitions from %s", async (status, expected) => {
    serveShipment(makeDetail({ id: 10, status }));
    renderApp("/shipments/10");
    await screen.findByLabelText("New status");
    expect(statusOptions()).toEqual(expected);
  });

  it.each<ShipmentStatus>(["DELIVERED", "CANCELLED"])(
    "offers no status change and no new events once %s",
    async (status) => {
      serveShipment(makeDetail({ id: 11, status }));
      renderApp("/shipments/11");
      expect(await screen.findByText(/its status can no longer change/)).toBeInTheDocument();
      expect(screen.queryByLabelText("New status")).not.toBeInTheDocument();
      expect(screen.queryByRole("form", { name: "Add tracking event" })).not.toBeInTheDocument();
    },
  );

  it("follows the backend's list of next statuses when the shipment carries one", async () => {
    serveShipment(makeDetail({ id: 18, status: "IN_TRANSIT", allowedNextStatuses: ["CANCELLED"] }));
    renderApp("/shipments/18");
    await screen.findByLabelText("New status");
    expect(statusOptions()).toEqual(["Cancelled"]);
  });

  it("changes the status, then shows the new status and its next transitions", async () => {
    const { calls } = serveShipment(makeDetail({ id: 12, status: "CREATED" }));
    const { user } = renderApp("/shipments/12");
    await screen.findByLabelText("New status");

    await user.selectOptions(screen.getByLabelText("New status"), "In transit");
    await user.type(screen.getByLabelText("Location (optional)"), "Riga terminal");
    await user.type(screen.getByLabelText("Note (optional)"), "Left the Riga warehouse");
    await user.click(screen.getByRole("button", { name: "Update status" }));

    expect(await screen.findByText("Left the Riga warehouse")).toBeInTheDocument();
    const patch = calls.find((call) => call.method === "PATCH");
    expect(patch).toMatchObject({
      path: "/api/shipments/12/status",
      body: { status: "IN_TRANSIT", note: "Left the Riga warehouse", location: "Riga terminal" },
    });
    expect(screen.getByRole("heading", { level: 1 }).nextElementSibling).toHaveTextContent(
      "In transit",
    );
    expect(statusOptions()).toEqual(["At customs", "Cancelled"]);
  });

  it("shows why the API refused a status change", async () => {
    stubApi((call) =>
      call.method === "PATCH"
        ? json(
            { error: "Cannot change status from CREATED to IN_TRANSIT: it changed meanwhile" },
            409,
          )
        : json(makeDetail({ id: 13, status: "CREATED" })),
    );
    const { user } = renderApp("/shipments/13");
    await user.selectOptions(await screen.findByLabelText("New status"), "In transit");
    await user.click(screen.getByRole("button", { name: "Update status" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("it changed meanwhile");
  });

  it("uploads a document as multipart field `file` and lists it with its download link", async () => {
    const { calls } = serveShipment(makeDetail({ id: 14 }));
    const { user } = renderApp("/shipments/14");
    expect(await screen.findByText("No documents uploaded yet.")).toBeInTheDocument();

    const invoice = new File(["%PDF-1.7 invoice"], "invoice 2026-11.pdf", {
      type: "application/pdf",
    });
    await user.upload(screen.getByLabelText("Document"), invoice);
    await user.click(screen.getByRole("button", { name: "Upload" }));

    const link = await screen.findByRole("link", { name: "invoice 2026-11.pdf" });
    expect(link).toHaveAttribute("href", "/api/shipments/14/documents/5/download");
    const upload = calls.find((call) => call.method === "POST");
    expect(upload?.path).toBe("/api/shipments/14/documents");
    expect(upload?.body).toBeInstanceOf(FormData);
    const sent = (upload?.body as FormData).get("file") as File;
    expect(sent.name).toBe("invoice 2026-11.pdf");
    // The browser must set the multipart boundary itself.
    expect(upload?.headers.get("Content-Type")).toBeNull();
  });

  it("asks for a file before uploading and shows the API's rejection", async () => {
    const calls = stubApi((call) =>
      call.method === "POST"
        ? json(
            {
              error: "The file's content is not a image/png file; upload a PDF, PNG or JPEG.",
              code: "UNSUPPORTED_FILE_TYPE",
              fields: { file: ["content does not match its type"] },
            },
            415,
          )
        : json(makeDetail({ id: 15 })),
    );
    const { user } = renderApp("/shipments/15");
    await user.click(await screen.findByRole("button", { name: "Upload" }));
    expect(screen.getByRole("alert")).toHaveTextContent("Choose a file to upload.");
    expect(calls.filter((call) => call.method === "POST")).toHaveLength(0);

    const picker = screen.getByLabelText("Document");
    expect(picker).toHaveAttribute("accept", expect.stringContaining("application/pdf"));
    await user.upload(picker, new File(["not a png"], "scan.png", { type: "image/png" }));
    await user.click(screen.getByRole("button", { name: "Upload" }));
    expect(await screen.findByRole("alert")).toHaveTextContent(
      "The file's content is not a image/png file; upload a PDF, PNG or JPEG.",
    );
  });

  it("adds a tracking event and shows the API's field errors for it", async () => {
    const calls = stubApi((call) =>
      call.method === "POST"
        ? json(
            { error: "Validation failed", fields: { description: ["Description is required"] } },
            400,
          )
        : json(makeDetail({ id: 16 })),
    );
    const { user } = renderApp("/shipments/16");
    await user.type(await screen.findByLabelText("Location"), "Gdansk");
    await user.click(screen.getByRole("button", { name: "Add event" }));

    expect(await screen.findByText("Description is required")).toBeInTheDocument();
    expect(screen.getByLabelText("Event")).toBeInvalid();
    expect(calls.find((call) => call.method === "POST")).toMatchObject({
      path: "/api/shipments/16/events",
      body: { description: "", location: "Gdansk" },
    });
  });

  it("says when the shipment does not exist", async () => {
    stubApi(() => json({ error: "Shipment 999 not found" }, 404));
    renderApp("/shipments/999");
    expect(await screen.findByRole("alert")).toHaveTextContent("Shipment not found");
  });

  it("offers a retry when loading fails for another reason", async () => {
    let failing = true;
    stubApi(() =>
      failing
        ? new Response("<html>502 Bad Gateway</html>", { status: 502, statusText: "Bad Gateway" })
        : json(makeDetail({ id: 17, trackingNumber: "QGO-20261127-BACKUP22" })),
    );
    const { user } = renderApp("/shipments/17");
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("The server answered 502 Bad Gateway.");
    failing = false;
    await user.click(within(alert).getByRole("button", { name: "Try again" }));
    expect(
      await screen.findByRole("heading", { level: 1, name: "QGO-20261127-BACKUP22" }),
    ).toBeInTheDocument();
  });
});
