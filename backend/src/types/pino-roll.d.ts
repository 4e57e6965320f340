// pino-roll ships no type declarations; this covers the options and stream the logger uses.
declare module "pino-roll" {
  import type { EventEmitter } from "node:events";

  interface PinoRollOptions {
    file: string | (() => string);
    size?: number | string;
    frequency?: "daily" | "hourly" | number;
    extension?: string;
    symlink?: boolean;
    limit?: { count?: number; removeOtherLogFiles?: boolean };
    dateFormat?: string;
    mkdir?: boolean;
  }

  /** A sonic-boom stream that switches files on rotation. */
  interface RollStream extends EventEmitter {
    write(data: string): boolean;
    end(): void;
  }

  export default function pinoRoll(options: PinoRollOptions): Promise<RollStream>;
}
