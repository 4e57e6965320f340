// Path patterns as Dagger applies them (host directory `ignore`/exclude, withDirectory
// include/exclude): BuildKit's fsutil walks the tree with moby's patternmatcher, the
// .dockerignore syntax. Rules kept here (github.com/moby/patternmatcher, patternmatcher.go):
// - a pattern is cleaned like filepath.Clean, a leading "/" dropped, "!" negates;
// - `*` is any run of characters but "/", `?` one character but "/", `[...]` a class,
//   `**` any number of path segments (also none: `**/node_modules` matches `node_modules`);
// - a path is matched when it or one of its parent directories matches (MatchesOrParentMatches);
//   patterns are applied in order and the last that applies wins (so "!" re-includes).
import { posix } from "node:path";

interface Pattern {
  source: string;
  exclusion: boolean;
  regexp: RegExp;
}

const REGEXP_SPECIALS = new Set([".", "+", "(", ")", "|", "{", "}", "$", "^"]);

function compile(raw: string): Pattern | undefined {
  let text = raw.trim();
  if (text === "") return undefined;
  let exclusion = false;
  if (text.startsWith("!")) {
    exclusion = true;
    text = text.slice(1).trim();
  }
  text = posix.normalize(text);
  if (text.length > 1 && text.startsWith("/")) text = text.slice(1);
  if (text.endsWith("/") && text.length > 1) text = text.slice(0, -1);
  let regexp = "^";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "*") {
      if (text[i + 1] === "*") {
        i++;
        if (text[i + 1] === "/") i++;
        // "**" at the end accepts everything; elsewhere any number of segments, even none.
        regexp += i + 1 >= text.length ? ".*" : "(.*/)?";
      } else {
        regexp += "[^/]*";
      }
    } else if (ch === "?") {
      regexp += "[^/]";
    } else if (ch === "\\") {
      i++;
      if (i < text.length) regexp += "\\" + text[i];
    } else if (REGEXP_SPECIALS.has(ch)) {
      regexp += "\\" + ch;
    } else {
      regexp += ch;
    }
  }
  return { source: raw, exclusion, regexp: new RegExp(regexp + "$") };
}

export class PatternMatcher {
  private readonly patterns: Pattern[];

  constructor(patterns: readonly string[]) {
    this.patterns = patterns.map(compile).filter((p): p is Pattern => p !== undefined);
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** True when `path` (relative, "/"-separated) or one of its parent directories matches. */
  matchesOrParentMatches(path: string): boolean {
    const parts = path.split("/");
    let matched = false;
    for (const pattern of this.patterns) {
      // A pattern that cannot change the verdict is skipped, as patternmatcher does.
      if (pattern.exclusion !== matched) continue;
      let match = pattern.regexp.test(path);
      for (let i = 1; !match && i < parts.length; i++) {
        match = pattern.regexp.test(parts.slice(0, i).join("/"));
      }
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  }

  /**
   * True when something below directory `dir` might still match: a pattern whose fixed
   * prefix leads into it (fsutil descends into a directory only then, for include patterns).
   */
  mayMatchBelow(dir: string): boolean {
    return this.patterns.some((pattern) => {
      if (pattern.exclusion) return false;
      const source = posix.normalize(pattern.source.trim().replace(/^\//, ""));
      const fixed = source.split("/");
      const parts = dir.split("/");
      for (let i = 0; i < parts.length && i < fixed.length; i++) {
        if (/[*?[\\]/.test(fixed[i]!)) return true;
        if (fixed[i] !== parts[i]) return false;
      }
      return true;
    });
  }
}
