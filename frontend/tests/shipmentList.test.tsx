import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { Page, Shipment } from "../src/api/types";
import { deferred, json, makeShipment, stubApi, type ApiCall } from "./support/fakeApi";
import { renderApp } from "./support/renderApp";

function page(items: Shipment[], overrides: Partial<Page<Shipment>> = {}): Page<Shipment> {
  return { items, total: items.length, page: 1, pageSize: 20, ...overrides };
}

function lastListQuery(calls: ApiCall[]): Record<string, string> {
  const listCalls = calls.filter((call) => call.method === "GET" && call.path === "/api/shipments");
  const last = listCalls.at(-1);
  if (!last) throw new Error("the list was never requested");
  return Object.fromEntries(last.query);
}

describe("shipment list", () => {
  it("shows a loading state, then the shipments of the first page", async () => {
    const response = deferred<Response>();
    const calls = stubApi(() => response.promise);
    renderApp("/");

    expect(screen.getByRole("status")).toHaveTextContent("Loading shipments");
    expect(lastListQuery(calls)).toEqual({ page: "1", pageSize: "20" });

    response.resolve(
      json(
        page([
          makeShipment({ trackingNumber: "QGO-20261127-AAAA2222", customerName: "Nordic Foods" }),
          makeShipment({ trackingNumber: "QGO-20261127-BBBB3333", status: "IN_TRANSIT" }),
        ]),
      ),
    );

    const rows = await screen.findAllByRole("row");
    expect(rows).toHaveLength(3); // header + 2
    expect(screen.queryByRole("status")).not.toBeInTheDocument();
    const first = rows[1]!;
    expect(within(first).getByRole("link", { name: "QGO-20261127-AAAA2222" })).toHaveAttribute(
      "href",
      expect.stringMatching(/^\/shipments\/\d+$/),
    );
    expect(within(first).getByText("Nordic Foods")).toBeInTheDocument();
    expect(within(first).getByText("Riga → Rotterdam")).toBeInTheDocument();
    expect(within(first).getByText("1,250.5 kg")).toBeInTheDocument();
    expect(within(rows[2]!).getByText("In transit")).toBeInTheDocument();
  });

  it("asks the API for the chosen status and resets to the first page", async () => {
    const calls = stubApi((call) => {
      const status = call.query.get("status");
      const requestedPage = Number(call.query.get("page"));
      const items = status
        ? [makeShipment({ status: "AT_CUSTOMS", customerName: "Customs Held Co" })]
        : [makeShipment({ customerName: "Anyone" })];
      return json(page(items, { total: 45, page: requestedPage }));
    });
    const { user } = renderApp("/?page=2");
    await screen.findByText("Anyone");
    expect(lastListQuery(calls)).toMatchObject({ page: "2" });

    await user.selectOptions(screen.getByLabelText("Status"), "At customs");

    expect(await screen.findByText("Customs Held Co")).toBeInTheDocument();
    expect(lastListQuery(calls)).toEqual({ status: "AT_CUSTOMS", page: "1", pageSize: "20" });

    await user.selectOptions(screen.getByLabelText("Status"), "All statuses");
    await screen.findByText("Anyone");
    expect(lastListQuery(calls)).toEqual({ page: "1", pageSize: "20" });
  });

  it("sends the trimmed search text with the current status filter", async () => {
    const calls = stubApi((call) =>
      json(page(call.query.get("search") ? [makeShipment({ customerName: "Acme Freight" })] : [])),
    );
    const { user } = renderApp("/?status=IN_TRANSIT");
    await screen.findByText("No shipments match these filters.");
    expect(screen.getByLabelText("Status")).toHaveValue("IN_TRANSIT");

    await user.type(screen.getByRole("searchbox", { name: "Search" }), "  acme  {Enter}");

    expect(await screen.findByText("Acme Freight")).toBeInTheDocument();
    expect(lastListQuery(calls)).toEqual({
      status: "IN_TRANSIT",
      search: "acme",
      page: "1",
      pageSize: "20",
    });
  });

  it("restores the filters of an opened address into the request and the controls", async () => {
    const calls = stubApi(() => json(page([makeShipment({ customerName: "Linked Ltd" })])));
    renderApp("/?status=DELIVERED&search=linked&page=3");
    await screen.findByText("Linked Ltd");
    expect(lastListQuery(calls)).toEqual({
      status: "DELIVERED",
      search: "linked",
      page: "3",
      pageSize: "20",
    });
    expect(screen.getByLabelText("Status")).toHaveValue("DELIVERED");
    expect(screen.getByRole("searchbox", { name: "Search" })).toHaveValue("linked");
  });

  it("pages through the results with Previous and Next", async () => {
    const calls = stubApi((call) => {
      const requested = Number(call.query.get("page"));
      return json(
        page([makeShipment({ customerName: `Customer on page ${requested}` })], {
          total: 45,
          page: requested,
        }),
      );
    });
    const { user } = renderApp("/");
    await screen.findByText("Customer on page 1");
    expect(screen.getByText(/Page 1 of 3/)).toHaveTextContent("45 shipments");
    expect(screen.getByRole("button", { name: "Previous" })).toBeDisabled();

    await user.click(screen.getByRole("button", { name: "Next" }));
    await screen.findByText("Customer on page 2");
    expect(lastListQuery(calls)).toMatchObject({ page: "2" });

    await user.click(screen.getByRole("button", { name: "Next" }));
    await screen.findByText("Customer on page 3");
    expect(screen.getByRole("button", { name: "Next" })).toBeDisabled();

    await user.click(screen.getByRole("button", { name: "Previous" }));
    await screen.findByText("Customer on page 2");
    expect(lastListQuery(calls)).toMatchObject({ page: "2" });
  });

  it("shows the API's error and loads again on retry", async () => {
    let failing = true;
    const calls = stubApi(() =>
      failing
        ? json({ error: "Database unavailable" }, 503)
        : json(page([makeShipment({ customerName: "Recovered Ltd" })])),
    );
    const { user } = renderApp("/");

    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Could not load shipments");
    expect(alert).toHaveTextContent("Database unavailable");

    failing = false;
    await user.click(within(alert).getByRole("button", { name: "Try again" }));
    expect(await screen.findByText("Recovered Ltd")).toBeInTheDocument();
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
    expect(calls).toHaveLength(2);
  });

  it("explains when the API cannot be reached at all", async () => {
    stubApi(() => Promise.reject(new TypeError("fetch failed")));
    renderApp("/");
    expect(await screen.findByRole("alert")).toHaveTextContent("Cannot reach the QGO API");
  });

  it("says so when there are no shipments yet", async () => {
    stubApi(() => json(page([])));
    renderApp("/");
    expect(await screen.findByText("No shipments yet.")).toBeInTheDocument();
    expect(screen.queryByRole("navigation", { name: "Pagination" })).not.toBeInTheDocument();
  });

  it("ignores an out-of-date answer that arrives after a newer one", async () => {
    const slowFirst = deferred<Response>();
    stubApi((call) =>
      call.query.get("status") === "DELIVERED"
        ? json(page([makeShipment({ customerName: "Delivered Only" })]))
        : slowFirst.promise,
    );
    const { user } = renderApp("/");
    await user.selectOptions(screen.getByLabelText("Status"), "Delivered");
    await screen.findByText("Delivered Only");

    slowFirst.resolve(json(page([makeShipment({ customerName: "Stale Answer" })])));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(screen.queryByText("Stale Answer")).not.toBeInTheDocument();
    await waitFor(() => expect(screen.getByText("Delivered Only")).toBeInTheDocument());
  });
});
