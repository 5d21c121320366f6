// Marks where each JSX element of the app is written, for QAI's "Select" tool: `<h1>` in app/page.tsx
// line 12, column 5 becomes `<h1 data-qai-source={"app/page.tsx:12:5"}>`. next.config.ts runs it only
// for the preview's dev server (QAI_PREVIEW=1), never for `next build`, so neither a download nor a
// published site carries the marks. It only adds attributes on the lines where the elements are, so
// line numbers in errors stay right. Keep this file when changing the app.
const path = require("node:path");
const { parse } = require("next/dist/compiled/babel/parser");

const ATTRIBUTE = "data-qai-source";

// React.Fragment (and <>…</>) takes no props but key and children.
function isFragment(name) {
  if (name.type === "JSXIdentifier") return name.name === "Fragment";
  return name.type === "JSXMemberExpression" && name.property.name === "Fragment";
}

function hasMark(attributes) {
  return attributes.some((attribute) => attribute.type === "JSXAttribute" && attribute.name.name === ATTRIBUTE);
}

// Every JSX opening element's name end and position, in source order of no importance.
function openingElements(node, found) {
  if (Array.isArray(node)) {
    for (const child of node) openingElements(child, found);
  } else if (node && typeof node.type === "string") {
    if (node.type === "JSXOpeningElement" && !isFragment(node.name) && !hasMark(node.attributes)) {
      // After the name and its type arguments (<Select<string> …>), before the first attribute.
      const end = (node.typeArguments || node.typeParameters || node.name).end;
      found.push({ end, line: node.loc.start.line, column: node.loc.start.column + 1 });
    }
    for (const key in node) {
      if (key !== "loc" && key !== "leadingComments" && key !== "trailingComments") openingElements(node[key], found);
    }
  }
  return found;
}

/** The source with every JSX element marked; the source as it was when it cannot be parsed (the
 * compiler then reports the error itself). */
function markSources(source, file) {
  if (!source.includes("<")) return source;
  let tree;
  try {
    const plugins = file.endsWith(".tsx") ? ["jsx", "typescript"] : ["jsx"];
    tree = parse(source, { sourceType: "module", plugins, errorRecovery: false });
  } catch {
    return source;
  }
  const marks = openingElements(tree.program, []).sort((a, b) => a.end - b.end);
  const parts = [];
  let from = 0;
  for (const { end, line, column } of marks) {
    parts.push(source.slice(from, end), ` ${ATTRIBUTE}={${JSON.stringify(`${file}:${line}:${column}`)}}`);
    from = end;
  }
  parts.push(source.slice(from));
  return parts.join("");
}

module.exports = function qaiSourceLoader(source) {
  const root = this.rootContext || process.cwd();
  const file = path.relative(root, this.resourcePath).split(path.sep).join("/");
  return markSources(source, file);
};
module.exports.markSources = markSources;
