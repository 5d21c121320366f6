import { Button, Code, Group, Loader, Paper, Stack, Text, ThemeIcon } from "@mantine/core";
import {
  IconAlertCircle,
  IconBrain,
  IconCheck,
  IconCircleDot,
  IconFile,
  IconPencil,
  IconPlayerStop,
  IconTerminal2,
  IconX,
} from "@tabler/icons-react";
import { useEffect } from "react";
import type { RunEvent } from "../api/client";
import { useCancelRun, useRefreshAfterRun, useRun } from "../api/queries";
import {
  checkProblem,
  eventFailed,
  eventText,
  eventTone,
  isFinished,
  runHeadline,
  shownEvents,
  usageText,
} from "../runProgress";
import { ErrorAlert } from "./ErrorAlert";

const ICONS = {
  status: IconCircleDot,
  model: IconBrain,
  command: IconTerminal2,
  files: IconFile,
  check: IconCheck,
  error: IconAlertCircle,
  writing: IconPencil,
} satisfies Record<RunEvent["kind"], typeof IconCheck>;

function EventIcon({ event }: { event: RunEvent }) {
  // A kind newer than this build (a client cached while the API moved on) gets the plain dot.
  const Icon = event.kind === "check" && eventFailed(event) ? IconX : (ICONS[event.kind] ?? IconCircleDot);
  return (
    <ThemeIcon size="sm" variant="light" color={eventTone(event)}>
      <Icon size={14} />
    </ThemeIcon>
  );
}

/** What a run does, as it happens (polled with ?after=), with a Stop button while it works. */
export function RunProgress({ projectId, messageId, live }: { projectId: string; messageId: string; live: boolean }) {
  const run = useRun(projectId, messageId);
  const cancel = useCancelRun(projectId, messageId);
  const refresh = useRefreshAfterRun(projectId);
  const finished = run.data ? isFinished(run.data.status) : false;
  // Once, when the live run finishes: its reply is there now.
  useEffect(() => {
    if (finished && live) refresh();
  }, [finished, live, refresh]);
  const events = shownEvents(run.data?.events ?? []);
  const usage = finished ? usageText(run.data?.usage) : null;
  return (
    <Paper withBorder p="xs" w="92%" aria-label="Run progress">
      <Stack gap={4}>
        {!finished && (
          <Group justify="space-between">
            <Group gap="xs">
              <Loader size="xs" />
              <Text size="sm" fw={500}>
                {runHeadline(run.data?.status)}
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
          {events.map((event) => {
            const problem = checkProblem(event);
            return (
              <li key={event.seq} data-kind={event.kind}>
                <Group gap="xs" wrap="nowrap" align="flex-start">
                  <EventIcon event={event} />
                  <Stack gap={0} style={{ minWidth: 0 }}>
                    <Text size="xs" className="event-output">
                      {eventText(event)}
                    </Text>
                    {problem !== null && (
                      <Code block className="event-output">
                        {problem}
                      </Code>
                    )}
                  </Stack>
                </Group>
              </li>
            );
          })}
        </ol>
        {usage && (
          <Text size="xs" c="dimmed" aria-label="Run usage">
            {usage}
          </Text>
        )}
      </Stack>
    </Paper>
  );
}
