// Image addresses for `publish`: validated up front so a typo fails before anything is built,
// and digest references derived from what the registry answered (deploys pin digests, not tags).

const REGISTRY_HOST = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$/;
const REPOSITORY_PATH = /^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST_SUFFIX = /@(sha256:[0-9a-f]{64})$/;

export interface PublishTarget {
  /** Registry host, e.g. ghcr.io or 127.0.0.1:5000. */
  registry: string;
  /** Repository path under the registry, lower-cased, e.g. acme/qgo-cargo. */
  repository: string;
  /** Tags to push: the immutable one first, then the moving ones. */
  tags: string[];
}

/** Checks and normalises what `publish` was given; throws an error that names the fix. */
export function publishTarget(
  registry: string,
  repository: string,
  tag: string,
  extraTags: string[],
): PublishTarget {
  const host = registry
    .trim()
    .toLowerCase()
    .replace(/^https?:\/\//, "")
    .replace(/\/+$/, "");
  if (!REGISTRY_HOST.test(host)) {
    throw new Error(
      `--registry "${registry}" is not a registry host: pass a host name such as ghcr.io or 127.0.0.1:5000 (no path).`,
    );
  }
  // GitHub's OWNER/NAME may contain capitals; image references may not.
  const path = repository.trim().toLowerCase();
  if (!REPOSITORY_PATH.test(path)) {
    throw new Error(
      `--repository "${repository}" is not a repository path: pass OWNER/NAME, e.g. acme/qgo-cargo.`,
    );
  }
  const tags = [tag, ...extraTags];
  for (const candidate of tags) {
    if (!TAG.test(candidate)) {
      throw new Error(
        `tag "${candidate}" is not a valid image tag: use letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-'), e.g. the commit SHA.`,
      );
    }
  }
  if (new Set(tags).size !== tags.length) {
    throw new Error(`tags ${tags.join(", ")} contain a duplicate: pass each tag once.`);
  }
  return { registry: host, repository: path, tags };
}

/** `registry/repository/component:tag`, the address one tag is pushed to. */
export function imageAddress(target: PublishTarget, component: string, tag: string): string {
  return `${target.registry}/${target.repository}/${component}:${tag}`;
}

/**
 * Turns what `Container.publish` returned (`name:tag@sha256:…`) into the immutable reference
 * `name@sha256:…` that deploys take.
 */
export function digestReference(
  published: string,
  target: PublishTarget,
  component: string,
): string {
  const digest = DIGEST_SUFFIX.exec(published)?.[1];
  if (digest === undefined) {
    throw new Error(
      `the registry answered "${published}" for ${component}, which has no sha256 digest: check that ${target.registry} is an OCI registry that returns digests.`,
    );
  }
  return `${target.registry}/${target.repository}/${component}@${digest}`;
}
