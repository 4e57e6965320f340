import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "../api/client";

export type ResourceState<T> =
  | { kind: "loading"; data?: undefined; error?: undefined }
  | { kind: "error"; data?: undefined; error: ApiError }
  | { kind: "ready"; data: T; error?: undefined };

/**
 * Loads a resource whenever `key` changes, cancelling the previous request so a slow old
 * answer can never overwrite a newer one. `reload` fetches the same key again and keeps the
 * current data on screen until the fresh copy arrives.
 */
export function useApiResource<T>(
  key: string,
  load: (signal: AbortSignal) => Promise<T>,
): ResourceState<T> & { reload: () => void } {
  const [state, setState] = useState<ResourceState<T>>({ kind: "loading" });
  const [generation, setGeneration] = useState(0);
  const loadedKey = useRef<string | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    if (loadedKey.current !== key) setState({ kind: "loading" });
    load(controller.signal).then(
      (data) => {
        if (controller.signal.aborted) return;
        loadedKey.current = key;
        setState({ kind: "ready", data });
      },
      (error: unknown) => {
        if (controller.signal.aborted) return;
        loadedKey.current = null;
        setState({
          kind: "error",
          error:
            error instanceof ApiError
              ? error
              : new ApiError(0, error instanceof Error ? error.message : String(error)),
        });
      },
    );
    return () => controller.abort();
    // `load` is a new closure on every render; `key` says what it loads, so it alone re-runs this.
  }, [key, generation]);

  const reload = useCallback(() => setGeneration((n) => n + 1), []);
  return { ...state, reload };
}
