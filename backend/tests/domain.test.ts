import { describe, expect, it } from "vitest";
import {
  allowedNextStatuses,
  canTransition,
  isFinalStatus,
  SHIPMENT_STATUSES,
  type ShipmentStatus,
} from "../src/domain/status.js";
import { generateTrackingNumber, TRACKING_NUMBER_PATTERN } from "../src/domain/trackingNumber.js";

describe("shipment status transitions", () => {
  const valid: [ShipmentStatus, ShipmentStatus][] = [
    ["CREATED", "IN_TRANSIT"],
    ["IN_TRANSIT", "AT_CUSTOMS"],
    ["AT_CUSTOMS", "DELIVERED"],
    ["CREATED", "CANCELLED"],
    ["IN_TRANSIT", "CANCELLED"],
    ["AT_CUSTOMS", "CANCELLED"],
  ];

  it("accepts exactly the forward steps and cancellation before delivery", () => {
    const accepted = SHIPMENT_STATUSES.flatMap((from) =>
      SHIPMENT_STATUSES.filter((to) => canTransition(from, to)).map((to) => [from, to]),
    );
    expect(accepted.sort()).toEqual([...valid].sort());
  });

  it.each([
    ["CREATED", "AT_CUSTOMS"],
    ["CREATED", "DELIVERED"],
    ["IN_TRANSIT", "CREATED"],
    ["DELIVERED", "CANCELLED"],
    ["CANCELLED", "IN_TRANSIT"],
    ["IN_TRANSIT", "IN_TRANSIT"],
  ] as [ShipmentStatus, ShipmentStatus][])("rejects %s -> %s", (from, to) => {
    expect(canTransition(from, to)).toBe(false);
  });

  it("treats DELIVERED and CANCELLED as final", () => {
    expect(SHIPMENT_STATUSES.filter(isFinalStatus)).toEqual(["DELIVERED", "CANCELLED"]);
    expect(allowedNextStatuses("DELIVERED")).toEqual([]);
    expect(allowedNextStatuses("CREATED")).toEqual(["IN_TRANSIT", "CANCELLED"]);
  });
});

describe("tracking numbers", () => {
  it("carry the date and a random part, and match the accepted pattern", () => {
    const number = generateTrackingNumber(new Date("2026-03-04T10:00:00Z"));
    expect(number).toMatch(/^QGO-20260304-[2-9A-HJKMNP-Z]{8}$/);
    expect(TRACKING_NUMBER_PATTERN.test(number)).toBe(true);
  });

  it("are different each time", () => {
    const numbers = new Set(Array.from({ length: 200 }, () => generateTrackingNumber()));
    expect(numbers.size).toBe(200);
  });
});
