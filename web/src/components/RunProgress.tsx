import { Button, Code, Group, Loader, Paper, Stack, Text, ThemeIcon } from "@mantine/core";
import {
  IconAlertCircle,
  IconBrain,
  IconCheck,
  IconCircleDot,
  IconFile,
  IconPlayerStop,
  IconTerminal2,
  IconX,
} from "@tabler/icons-react";
import { useEffect } from "react";
import { FINISHED_RUN, type RunEvent } from "../api/client";
import { useCancelRun, useRefreshAfterRun, useRun } from "../api/queries";
import { ErrorAlert } from "./ErrorAlert";

function EventIcon({ event }: { event: RunEvent }) {
  const data = event.data as Record<string, unknown>;
  const failed = data.error === true || data.passed === false || event.kind === "error";
  const icons: Record<string, typeof IconCheck> = {
    model: IconBrain,
    command: IconTerminal2,
    files: IconFile,
    check: failed ? IconX : IconCheck,
    error: IconAlertCircle,
  };
  const Icon = icons[event.kind] ?? IconCircleDot;
  return (
    <ThemeIcon size="sm" variant="light" color={failed ? "red" : event.kind === "check" ? "green" : "gray"}>
      <Icon size={14} />
    </ThemeIcon>
  );
}

function eventText(event: RunEvent): string {
  const data = event.data as Record<string, unknown>;
  if (event.kind === "command") return `$ ${event.text} (${String(data.status)})`;
  if (event.kind === "files") {
    const paths = (data.written ?? data.read ?? []) as string[];
    return paths.length ? `${event.text}: ${paths.join(", ")}` : event.text;
  }
  if (event.kind === "model") return `${event.text} (${data.outputTokens ?? 0} tokens written)`;
  return event.text;
}

/** What a run does, as it happens (polled with ?after=), with a Stop button while it works. */
export function RunProgress({ projectId, messageId, live }: { projectId: string; messageId: string; live: boolean }) {
  const run = useRun(projectId, messageId);
  const cancel = useCancelRun(projectId, messageId);
  const refresh = useRefreshAfterRun(projectId);
  const finished = run.data ? FINISHED_RUN.includes(run.data.status) : false;
  // Once, when the live run finishes: its reply is there now. (`refresh` is a new function each
  // render; listed, it would refresh on every render.)
  useEffect(() => {
    if (finished && live) refresh();
  }, [finished, live]);
  // A command still running shows once, as the last line, until its result replaces it.
  const events = (run.data?.events ?? []).filter(
    (event, index, all) => !(event.kind === "command" && event.data.status === "running" && index < all.length - 1),
  );
  return (
    <Paper withBorder p="xs" w="92%" aria-label="Run progress">
      <Stack gap={4}>
        {!finished && (
          <Group justify="space-between">
            <Group gap="xs">
              <Loader size="xs" />
              <Text size="sm" fw={500}>
                {run.data?.status === "RUNNING" ? "Building your app…" : "Waiting for a worker…"}
              </Text>
            </Group>
            <Button
              size="compact-sm"
              color="red"
              variant="light"
              leftSection={<IconPlayerStop size={14} />}
              loading={cancel.isPending}
              disabled={cancel.isSuccess}
              onClick={() => cancel.mutate()}
            >
              {cancel.isSuccess ? "Stopping…" : "Stop"}
            </Button>
          </Group>
        )}
        <ErrorAlert error={cancel.error ?? run.error} />
        <ol style={{ listStyle: "none", margin: 0, padding: 0 }} aria-label="Run events">
          {events.map((event) => (
            <li key={event.seq} data-kind={event.kind}>
              <Group gap="xs" wrap="nowrap" align="flex-start">
                <EventIcon event={event} />
                <Stack gap={0} style={{ minWidth: 0 }}>
                  <Text size="xs" className="event-output">
                    {eventText(event)}
                  </Text>
                  {event.kind === "check" && event.data.passed === false && (
                    <Code block className="event-output">
                      {String(event.data.problem ?? "").slice(0, 600)}
                    </Code>
                  )}
                </Stack>
              </Group>
            </li>
          ))}
        </ol>
      </Stack>
    </Paper>
  );
}
