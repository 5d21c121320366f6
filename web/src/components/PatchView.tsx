import type { PatchLine } from "../versionDiff";

/** A file's patch, line by line: added lines green (ins), deleted red (del), hunk headers muted; each
 * keeps its +, − or space, so the colour is never the only sign. */
export function PatchView({ path, lines }: { path: string; lines: PatchLine[] }) {
  return (
    <pre className="diff-view" aria-label={`Changes to ${path}`} tabIndex={0}>
      <code>
        {lines.map((line, index) =>
          line.kind === "added" ? (
            <ins key={index} className="diff-line diff-added">
              {line.text}
            </ins>
          ) : line.kind === "deleted" ? (
            <del key={index} className="diff-line diff-deleted">
              {line.text}
            </del>
          ) : (
            <span key={index} className={`diff-line diff-${line.kind}`}>
              {line.text}
            </span>
          ),
        )}
      </code>
    </pre>
  );
}
