// pino-roll ships no type declarations; this covers the options the logger uses.
declare module "pino-roll" {
  import type SonicBoom from "sonic-boom";

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

  export default function pinoRoll(options: PinoRollOptions): Promise<SonicBoom>;
}
