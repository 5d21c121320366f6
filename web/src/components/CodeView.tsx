import hljs from "highlight.js/lib/common";
import { useMemo } from "react";

const BINARY_PREFIX = "data:application/octet-stream;base64,";

const LANGUAGES: Record<string, string> = {
  ts: "typescript",
  tsx: "typescript",
  js: "javascript",
  jsx: "javascript",
  mjs: "javascript",
  json: "json",
  css: "css",
  html: "xml",
  md: "markdown",
  yml: "yaml",
  yaml: "yaml",
  sh: "bash",
};

/** A file's content, highlighted by its extension (highlight.js escapes the text it marks up). */
export function CodeView({ path, content }: { path: string; content: string }) {
  const html = useMemo(() => {
    if (content.startsWith(BINARY_PREFIX)) return null;
    const language = LANGUAGES[path.split(".").pop() ?? ""];
    return language ? hljs.highlight(content, { language }).value : hljs.highlightAuto(content).value;
  }, [path, content]);
  if (html === null) return <p>A binary file ({Math.round((content.length * 3) / 4 / 1024)} kB).</p>;
  return (
    <pre className="code-view hljs" aria-label={`Contents of ${path}`} tabIndex={0}>
      <code dangerouslySetInnerHTML={{ __html: html }} />
    </pre>
  );
}
