// What the deploy keeps of a remote command's output: a bounded part of it. A step can print
// without end (a migration logging every row, a container restarting in a loop), and all of it
// would otherwise be held in memory, then copied into the error, the report and the log.
// Callers read `key=value` lines at the start and at the end of an output, and a failure
// shows its cause in the last lines, so both the head and the tail of the stream are kept;
// the lines between are counted, not stored.
import { StringDecoder } from "node:string_decoder";
import { LineSink, type Redactor } from "./redact.js";

/** The first lines of a stream that are kept (and logged as they arrive). */
export const HEAD_LINES = 1000;
/** The last lines of a stream that are kept (logged when the stream ends). */
export const TAIL_LINES = 200;

/** The line standing for those between the head and the tail. */
export function linesNotKeptMarker(lines: number): string {
  return `[… ${lines} line${lines === 1 ? "" : "s"} not kept …]`;
}

/** The first `headSize` and the last `tailSize` lines of a stream, and how many were between. */
export class BoundedLines {
  private readonly head: string[] = [];
  /** A ring buffer: the oldest tail line is at `tailStart` once the buffer is full. */
  private readonly tail: string[] = [];
  private tailStart = 0;
  private dropped = 0;

  constructor(
    readonly headSize = HEAD_LINES,
    readonly tailSize = TAIL_LINES,
  ) {}

  /** Adds a line; true when it is one of the head lines (kept for good). */
  add(line: string): boolean {
    if (this.head.length < this.headSize) {
      this.head.push(line);
      return true;
    }
    if (this.tailSize === 0) {
      this.dropped += 1;
    } else if (this.tail.length < this.tailSize) {
      this.tail.push(line);
    } else {
      // The oldest tail line leaves the tail: it is now one of the lines not kept.
      this.tail[this.tailStart] = line;
      this.tailStart = (this.tailStart + 1) % this.tailSize;
      this.dropped += 1;
    }
    return false;
  }

  /** How many lines between the head and the tail were counted but not stored. */
  get notKept(): number {
    return this.dropped;
  }

  /** The tail lines, oldest first. */
  tailLines(): string[] {
    return [...this.tail.slice(this.tailStart), ...this.tail.slice(0, this.tailStart)];
  }

  /** The head, a marker line if lines were not kept, then the tail. */
  lines(): string[] {
    const marker = this.dropped > 0 ? [linesNotKeptMarker(this.dropped)] : [];
    return [...this.head, ...marker, ...this.tailLines()];
  }

  text(): string {
    return this.lines().join("\n");
  }
}

/**
 * One output stream of a remote command (its stdout or its stderr): bytes in, lines that are
 * redacted, printable and capped (LineSink), bounded in number (BoundedLines). The head lines
 * are logged as they arrive; the rest only when the stream ends, after a marker saying how
 * many lines were not kept.
 */
export class OutputCapture {
  private readonly kept: BoundedLines;
  private readonly sink: LineSink;
  // A multi-byte character can be split between two packets; decoding each packet on its
  // own would turn both halves into U+FFFD.
  private readonly decoder = new StringDecoder("utf8");
  private closed = false;

  constructor(
    redactor: Redactor,
    private readonly log: (line: string) => void,
    headSize = HEAD_LINES,
    tailSize = TAIL_LINES,
  ) {
    this.kept = new BoundedLines(headSize, tailSize);
    this.sink = new LineSink(redactor, (line) => {
      if (this.kept.add(line)) this.log(line);
    });
  }

  write(data: Buffer | string): void {
    this.sink.write(typeof data === "string" ? data : this.decoder.write(data));
  }

  /** The stream ended: logs what was not logged yet (the marker, then the tail lines). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sink.write(this.decoder.end());
    this.sink.flush();
    if (this.kept.notKept > 0) this.log(linesNotKeptMarker(this.kept.notKept));
    for (const line of this.kept.tailLines()) this.log(line);
  }

  /** The kept lines joined: head, marker, tail. */
  text(): string {
    return this.kept.text();
  }
}
