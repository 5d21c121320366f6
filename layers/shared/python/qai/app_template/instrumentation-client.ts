// Tells the page that frames this app (QAI's preview) about errors the app throws in the browser,
// so that it can offer to fix them. Next.js runs this file before the app starts. It shows nothing,
// works only under `next dev` (as the preview runs; a production build leaves it out) and inside a
// frame, and reports each message once, at most 20 a page load.
// Keep it when changing the app; add to it rather than replacing it.

const MAX_REPORTS = 20;
const MAX_MESSAGE = 1000;
const MAX_STACK = 4000;
const MAX_URL = 2000;

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
}

export {};
