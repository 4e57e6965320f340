import { screen } from "@testing-library/react";
import type { UserEvent } from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { json, makeDetail, stubApi } from "./support/fakeApi";
import { renderApp } from "./support/renderApp";

async function fillValidForm(user: UserEvent) {
  await user.type(screen.getByLabelText("Customer name"), "Nordic Foods AB");
  await user.type(screen.getByLabelText("Customer email"), "logistics@nordicfoods.example");
  await user.type(screen.getByLabelText("Origin"), "Gothenburg");
  await user.type(screen.getByLabelText("Destination"), "Hamburg");
  await user.type(screen.getByLabelText("Weight (kg)"), "842.5");
}

describe("create shipment form", () => {
  it("shows the API's field errors next to their fields", async () => {
    const calls = stubApi(() =>
      json(
        {
          error: "Validation failed",
          fields: {
            customerName: ["Customer name is required"],
            weightKg: ["Weight must be greater than 0", "Weight must have at most 2 decimals"],
          },
        },
        400,
      ),
    );
    const { user } = renderApp("/shipments/new");
    await user.type(screen.getByLabelText("Origin"), "Riga");
    await user.type(screen.getByLabelText("Weight (kg)"), "-1");
    await user.click(screen.getByRole("button", { name: "Create shipment" }));

    expect(await screen.findByRole("alert")).toHaveTextContent(
      "Please correct the highlighted fields.",
    );
    const name = screen.getByLabelText("Customer name");
    expect(name).toBeInvalid();
    expect(name).toHaveAccessibleDescription("Customer name is required");
    const weight = screen.getByLabelText("Weight (kg)");
    expect(weight).toHaveAccessibleDescription(
      "Weight must be greater than 0 Weight must have at most 2 decimals",
    );
    expect(screen.getByLabelText("Origin")).toBeValid();

    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ method: "POST", path: "/api/shipments" });
    expect(calls[0]!.headers.get("Content-Type")).toBe("application/json");
    // Empty optional fields are left out; the weight travels as a number.
    expect(calls[0]!.body).toEqual({
      customerName: "",
      origin: "Riga",
      destination: "",
      weightKg: -1,
    });
  });

  it("clears old field errors when the next attempt fails differently", async () => {
    let attempt = 0;
    stubApi(() => {
      attempt += 1;
      return attempt === 1
        ? json({ error: "Validation failed", fields: { origin: ["Origin is required"] } }, 400)
        : json({ error: "Tracking number QGO-DUP-0001 already exists" }, 409);
    });
    const { user } = renderApp("/shipments/new");
    await user.click(screen.getByRole("button", { name: "Create shipment" }));
    expect(await screen.findByText("Origin is required")).toBeInTheDocument();

    await user.type(screen.getByLabelText("Tracking number"), "QGO-DUP-0001");
    await fillValidForm(user);
    await user.click(screen.getByRole("button", { name: "Create shipment" }));

    expect(await screen.findByRole("alert")).toHaveTextContent(
      "Tracking number QGO-DUP-0001 already exists",
    );
    expect(screen.queryByText("Origin is required")).not.toBeInTheDocument();
    expect(screen.getByLabelText("Origin")).toBeValid();
  });

  it("reports field errors for fields the form does not show", async () => {
    stubApi(() => json({ error: "Validation failed", fields: { notes: ["Unknown field"] } }, 400));
    const { user } = renderApp("/shipments/new");
    await fillValidForm(user);
    await user.click(screen.getByRole("button", { name: "Create shipment" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("notes: Unknown field");
  });

  it("creates the shipment and opens its page", async () => {
    const created = makeDetail({
      id: 77,
      trackingNumber: "QGO-20261127-NEWONE22",
      customerName: "Nordic Foods AB",
    });
    const calls = stubApi((call) => {
      if (call.method === "POST" && call.path === "/api/shipments") return json(created, 201);
      if (call.method === "GET" && call.path === "/api/shipments/77") return json(created);
      return json({ error: `unexpected ${call.method} ${call.path}` }, 500);
    });
    const { user } = renderApp("/shipments/new");
    await fillValidForm(user);
    await user.click(screen.getByRole("button", { name: "Create shipment" }));

    expect(
      await screen.findByRole("heading", { level: 1, name: "QGO-20261127-NEWONE22" }),
    ).toBeInTheDocument();
    expect(screen.getByText("Shipment QGO-20261127-NEWONE22 created.")).toBeInTheDocument();
    expect(calls[0]!.body).toEqual({
      customerName: "Nordic Foods AB",
      customerEmail: "logistics@nordicfoods.example",
      origin: "Gothenburg",
      destination: "Hamburg",
      weightKg: 842.5,
    });
  });
});
