// By hand: `npm run vps:up` (prints the box description; the box keeps running),
// `npm run vps:down` (stops the running box and checks that nothing is left behind).
import { cacheDir } from "./box.js";
import { bringUp, describeLeftovers, recordedBoxStateDir, tearDown } from "./lifecycle.js";

async function main(command: string | undefined): Promise<number> {
  switch (command) {
    case "up": {
      const box = await bringUp({ owner: "cli" });
      console.log(JSON.stringify(box, null, 2));
      return 0;
    }
    case "down": {
      const stateDir = recordedBoxStateDir();
      if (!stateDir) {
        console.error(`No VPS box recorded in ${cacheDir()}: nothing to stop.`);
        return 0;
      }
      const left = await tearDown(stateDir, cacheDir());
      const report = describeLeftovers(left);
      if (report) {
        console.error(`Left behind after teardown:\n${report}`);
        return 1;
      }
      return 0;
    }
    default:
      console.error("Usage: tsx test/vps/cli.ts up|down");
      return 2;
  }
}

process.exitCode = await main(process.argv[2]);
