import type { CommandStartedData, Message, Run, RunEvent, RunStatus, RunUsage } from "./api/client";

/** How a run and its events become the progress the conversation shows. The statuses, kinds and
 * values come from the OpenAPI document's types: each map below `satisfies` a record over the
 * document's union, so a status or kind the API adds fails the type check until it is handled. */

const FINISHED = {
  QUEUED: false,
  RUNNING: false,
  SUCCEEDED: true,
  FAILED: true,
  CANCELLED: true,
} satisfies Record<RunStatus, boolean>;

export function isFinished(status: RunStatus): boolean {
  return FINISHED[status];
}

/** The newest message whose run is queued or running, if any: the project takes no other meanwhile. */
export function activeRun(messages: Message[] | undefined): Message | undefined {
  return messages?.findLast((m) => m.run && !isFinished(m.run.status));
}

/** What an unfinished run is doing, in a few words. */
export function runHeadline(status: RunStatus | undefined): string {
  return status === "RUNNING" ? "Building your app…" : "Waiting for a worker…";
}

/** A run polled with ?after=: the events seen so far, then the page's newer ones. */
export function withNewerEvents(seen: Run | undefined, page: Run): Run {
  return { ...page, events: [...(seen?.events ?? []), ...page.events] };
}

// Typed by the document (CommandStartedData.status is that one constant), not copied from the agent.
const COMMAND_RUNNING: CommandStartedData["status"] = "running";

function commandRunning(event: RunEvent): boolean {
  return event.kind === "command" && event.data.status === COMMAND_RUNNING;
}

/** Live lines: a command still running, or what the model is writing as its reply streams. */
function live(event: RunEvent): boolean {
  return commandRunning(event) || event.kind === "writing";
}

/** The events to list: a live line shows once, as the last line, until what follows replaces it. */
export function shownEvents(events: RunEvent[]): RunEvent[] {
  return events.filter((event, index) => !(live(event) && index < events.length - 1));
}

/** An event's line of text. */
export function eventText(event: RunEvent): string {
  switch (event.kind) {
    case "command":
      return `$ ${event.text} (${event.data.status})`;
    case "files": {
      const paths = event.data.written ?? event.data.read ?? [];
      return paths.length ? `${event.text}: ${paths.join(", ")}` : event.text;
    }
    case "model":
      return `${event.text} (${event.data.outputTokens} tokens written)`;
    case "writing":
      return `Claude is ${event.text}`;
    default:
      return event.text;
  }
}

/** Whether the event tells of something that went wrong: an error, a failed check, a failed command or file call. */
export function eventFailed(event: RunEvent): boolean {
  switch (event.kind) {
    case "error":
      return true;
    case "check":
      return !event.data.passed;
    case "command":
    case "files":
      return event.data.error === true;
    default:
      return false;
  }
}

export type EventTone = "red" | "green" | "gray";

export function eventTone(event: RunEvent): EventTone {
  if (eventFailed(event)) return "red";
  return event.kind === "check" ? "green" : "gray";
}

/** What a failed build check found (its first 600 characters), shown under the event; null otherwise. */
export function checkProblem(event: RunEvent): string | null {
  return event.kind === "check" && !event.data.passed ? event.data.problem.slice(0, 600) : null;
}

function tokens(count: number): string {
  return count >= 1000 ? `${(count / 1000).toFixed(1)}k` : String(count);
}

/** What a finished run's model calls used and cost, in one line; null before any call. */
export function usageText(usage: RunUsage | undefined): string | null {
  if (!usage || usage.modelCalls === 0) return null;
  const cost = usage.costUsd === null ? "cost unknown" : `$${usage.costUsd.toFixed(4)}`;
  const calls = `${usage.modelCalls} model call${usage.modelCalls === 1 ? "" : "s"}`;
  const input = tokens(usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens);
  return `${calls} · ${input} tokens in (${tokens(usage.cacheReadTokens)} from the cache) · ${tokens(usage.outputTokens)} out · ${cost}`;
}
