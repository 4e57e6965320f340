// Publishing the app images: every tag pushed, and one digest per image or an error.
import type { Container, Secret } from "@dagger.io/dagger";

import { digestReference, imageAddress, type PublishTarget } from "../lib/image-refs.js";

/**
 * Pushes each image under every tag of the target and returns the BACKEND_IMAGE=…@sha256:…,
 * FRONTEND_IMAGE=… and TAGS= lines publish prints.
 */
export async function publishImages(
  images: { backend: Container; frontend: Container },
  target: PublishTarget,
  username: string,
  password: Secret,
): Promise<string> {
  const refs = await Promise.all(
    Object.entries(images).map(async ([component, image]) => {
      const authed = image.withRegistryAuth(target.registry, username, password);
      const digests = new Set<string>();
      // One push per tag, in order: the immutable tag first.
      for (const pushedTag of target.tags) {
        const published = await authed.publish(imageAddress(target, component, pushedTag));
        digests.add(digestReference(published, target, component));
      }
      if (digests.size !== 1) {
        throw new Error(
          `${component}: the tags ${target.tags.join(", ")} got different digests (${[...digests].join(", ")}); publish again.`,
        );
      }
      return [...digests][0] ?? "";
    }),
  );
  // Deploys take this output whole (--release); TAGS= only informs the reader and the job summary.
  return `BACKEND_IMAGE=${refs[0]}\nFRONTEND_IMAGE=${refs[1]}\nTAGS=${target.tags.join(",")}\n`;
}
