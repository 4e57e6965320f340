// A minimal DNS server on 127.0.0.1 that answers A queries for names the test sets, standing
// in for Docker's embedded DNS (127.0.0.11) so nginx's runtime resolution of `backend` can be
// observed: the test changes the answer and watches nginx follow it.
import { createSocket, type RemoteInfo } from "node:dgram";

export interface DnsStub {
  port: number;
  /** Answer for `name`; null answers NXDOMAIN, as Docker does for a removed container. */
  set(name: string, ipv4: string | null): void;
  /** How many A queries for `name` arrived. */
  queries(name: string): number;
  close(): Promise<void>;
}

// Docker's DNS hands out long TTLs; nginx must not rely on them (it uses `valid=`).
const ANSWER_TTL_SECONDS = 600;

function readName(message: Buffer, start: number): { name: string; end: number } {
  const labels: string[] = [];
  let offset = start;
  for (;;) {
    const length = message[offset];
    if (length === undefined) throw new Error("truncated DNS question");
    offset += 1;
    if (length === 0) break;
    labels.push(message.subarray(offset, offset + length).toString("ascii"));
    offset += length;
  }
  return { name: labels.join(".").toLowerCase(), end: offset };
}

export async function startDnsStub(): Promise<DnsStub> {
  const answers = new Map<string, string | null>();
  const counts = new Map<string, number>();
  const socket = createSocket("udp4");

  socket.on("message", (query: Buffer, peer: RemoteInfo) => {
    const { name, end } = readName(query, 12);
    const questionEnd = end + 4; // QTYPE + QCLASS
    const qtype = query.readUInt16BE(end);
    const address = answers.get(name);
    if (qtype === 1) counts.set(name, (counts.get(name) ?? 0) + 1);
    const answerIt = qtype === 1 && typeof address === "string";

    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2); // id
    const notFound = address === undefined || address === null;
    header.writeUInt16BE(0x8180 | (notFound ? 3 : 0), 2); // response, RD, RA, rcode
    header.writeUInt16BE(1, 4); // one question
    header.writeUInt16BE(answerIt ? 1 : 0, 6);
    const parts = [header, query.subarray(12, questionEnd)];
    if (answerIt) {
      const record = Buffer.alloc(16);
      record.writeUInt16BE(0xc00c, 0); // pointer to the question's name
      record.writeUInt16BE(1, 2); // A
      record.writeUInt16BE(1, 4); // IN
      record.writeUInt32BE(ANSWER_TTL_SECONDS, 6);
      record.writeUInt16BE(4, 10);
      address.split(".").forEach((octet, index) => record.writeUInt8(Number(octet), 12 + index));
      parts.push(record);
    }
    socket.send(Buffer.concat(parts), peer.port, peer.address);
  });

  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => resolve());
  });

  return {
    port: socket.address().port,
    set: (name, ipv4) => answers.set(name.toLowerCase(), ipv4),
    queries: (name) => counts.get(name.toLowerCase()) ?? 0,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
