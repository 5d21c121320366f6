// Talks to the page that frames this app (QAI's preview), and only to it:
// - tells it about errors the app throws in the browser, so that it can offer to fix them;
// - lets the person using it point at an element: told `{type: "qai:select", on: true}`, the page
//   outlines the element under the pointer and, on a click, answers `qai:selected` with where that
//   element is written (its `data-qai-source`, which qai-source-loader.cjs adds), instead of the click;
//   `qai:select-ready` says a page (a new load) listens.
// Next.js runs this file before the app starts. It shows nothing until asked, works only under
// `next dev` (as the preview runs; a production build leaves it out) and inside a frame, and reports
// each error message once, at most 20 a page load.
// Keep it when changing the app; add to it rather than replacing it.

const MAX_REPORTS = 20;
const MAX_MESSAGE = 1000;
const MAX_STACK = 4000;
const MAX_URL = 2000;
const SOURCE_ATTRIBUTE = "data-qai-source";
const MAX_TEXT = 80;

type Kind = "error" | "unhandledrejection";

function describe(reason: unknown, fallback: string): { message: string; stack: string } {
  if (typeof reason === "object" && reason !== null && typeof (reason as Error).message === "string") {
    const { name, message, stack } = reason as Error;
    return { message: name ? `${name}: ${message}` : message, stack: typeof stack === "string" ? stack : "" };
  }
  return { message: reason === undefined || reason === null ? fallback : String(reason), stack: "" };
}

if (process.env.NODE_ENV === "development" && typeof window !== "undefined" && window.parent !== window) {
  const reported = new Set<string>();
  const report = (kind: Kind, reason: unknown, fallback: string) => {
    try {
      const { message, stack } = describe(reason, fallback);
      if (!message || message === "Script error." || reported.size >= MAX_REPORTS || reported.has(message)) return;
      reported.add(message);
      window.parent.postMessage(
        {
          type: "qai:runtime-error",
          kind,
          message: message.slice(0, MAX_MESSAGE),
          stack: stack.slice(0, MAX_STACK),
          url: window.location.href.slice(0, MAX_URL),
        },
        "*", // the app does not know the builder's origin; it tells only what its own console shows
      );
    } catch {
      // Reporting must never break the app.
    }
  };
  window.addEventListener("error", (event) => report("error", event.error, event.message));
  window.addEventListener("unhandledrejection", (event) =>
    report("unhandledrejection", event.reason, "A promise was rejected without a reason"),
  );
  selectOnRequest(window.parent);
}

/** The nearest element at or above `target` that says where it is written. */
function markedElement(target: EventTarget | null): HTMLElement | null {
  return target instanceof Element ? (target.closest(`[${SOURCE_ATTRIBUTE}]`) as HTMLElement | null) : null;
}

/** "Select": outlines the marked element under the pointer; a click on one tells `parent` where it is
 * written and ends it; Escape ends it too. Clicks and key presses go no further while it is on. */
function selectOnRequest(parent: Window) {
  const outline = document.createElement("div");
  outline.setAttribute("aria-hidden", "true");
  outline.style.cssText =
    "position:fixed;pointer-events:none;z-index:2147483647;border:2px solid #7c3aed;" +
    "background:rgba(124,58,237,.08);border-radius:3px;display:none;box-sizing:border-box";
  // A sheet of its own, not a style on <html>: React owns that element's attributes (hydration).
  const crosshair = document.createElement("style");
  crosshair.textContent = "*, *::before, *::after { cursor: crosshair !important; }";
  let on = false;
  const show = (element: HTMLElement | null) => {
    if (!element) {
      outline.style.display = "none";
      return;
    }
    const box = element.getBoundingClientRect();
    Object.assign(outline.style, {
      display: "block",
      left: `${box.left}px`,
      top: `${box.top}px`,
      width: `${box.width}px`,
      height: `${box.height}px`,
    });
  };
  const stop = (event: Event) => {
    event.preventDefault();
    event.stopImmediatePropagation();
  };
  const onPointer = (event: Event) => show(markedElement(event.target));
  const onClick = (event: Event) => {
    stop(event);
    const element = markedElement(event.target);
    const match = /^(.+):(\d+):(\d+)$/.exec(element?.getAttribute(SOURCE_ATTRIBUTE) ?? "");
    if (!element || !match) return;
    parent.postMessage(
      {
        type: "qai:selected",
        file: match[1],
        line: Number(match[2]),
        column: Number(match[3]),
        tag: element.tagName.toLowerCase(),
        text: (element.innerText || "").replace(/\s+/g, " ").trim().slice(0, MAX_TEXT),
      },
      "*",
    );
    setOn(false);
  };
  const onKey = (event: KeyboardEvent) => {
    stop(event);
    if (event.key !== "Escape") return;
    parent.postMessage({ type: "qai:select-cancelled" }, "*");
    setOn(false);
  };
  // Pointer presses would start the app's own handlers (a drag, a focus) before the click.
  const swallowed = ["pointerdown", "mousedown", "pointerup", "mouseup", "dblclick", "submit"];
  const setOn = (wanted: boolean) => {
    if (wanted === on) return;
    on = wanted;
    const listen = (name: string, listener: EventListener) =>
      wanted ? window.addEventListener(name, listener, true) : window.removeEventListener(name, listener, true);
    listen("pointermove", onPointer);
    listen("click", onClick);
    listen("keydown", onKey as EventListener);
    for (const name of swallowed) listen(name, stop);
    if (wanted) {
      document.head.appendChild(crosshair);
      document.body.appendChild(outline);
    } else {
      crosshair.remove();
      outline.remove();
    }
    show(null);
  };
  window.addEventListener("message", (event) => {
    // Only the framing page may switch it, and only with exactly this shape.
    if (event.source !== parent || typeof event.data !== "object" || event.data === null) return;
    if (event.data.type === "qai:select" && typeof event.data.on === "boolean") setOn(event.data.on);
  });
  // A page loaded again (a reload, a full refresh of the dev server) starts with it off: the framing
  // page, told so once the page has loaded (React has the page by then), switches it on again if it was.
  const ready = () => parent.postMessage({ type: "qai:select-ready" }, "*");
  if (document.readyState === "complete") ready();
  else window.addEventListener("load", ready, { once: true });
}

export {};
