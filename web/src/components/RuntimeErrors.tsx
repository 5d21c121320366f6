import { Badge, Button, Code, Collapse, Group, Paper, ScrollArea, Stack, Text } from "@mantine/core";
import { IconBug, IconChevronDown, IconChevronRight } from "@tabler/icons-react";
import { useState } from "react";
import { useSendMessage } from "../api/queries";
import { fixItPrompt, type ShownRuntimeError, stackFrames } from "../runtimeErrors";
import { plural } from "../versionDiff";
import { ErrorAlert } from "./ErrorAlert";

function ThrownError({
  error,
  fixable,
  sending,
  onFix,
}: {
  error: ShownRuntimeError;
  fixable: boolean;
  sending: boolean;
  onFix: () => void;
}) {
  const [open, setOpen] = useState(false);
  const stack = stackFrames(error.stack);
  return (
    <Paper component="li" withBorder p="xs" aria-label={error.message}>
      <Stack gap={4}>
        <Group justify="space-between" align="flex-start" wrap="nowrap" gap="xs">
          <Text size="sm" c="red.8" ff="monospace" style={{ wordBreak: "break-word", minWidth: 0 }}>
            {error.message}
          </Text>
          <Group gap={4} wrap="nowrap">
            {error.count > 1 && (
              <Badge size="sm" variant="light" color="red" aria-label={`Thrown ${error.count} times`}>
                ×{error.count}
              </Badge>
            )}
            <Button size="compact-sm" onClick={onFix} disabled={!fixable} loading={sending}>
              Fix it
            </Button>
          </Group>
        </Group>
        {stack && (
          <>
            <Button
              variant="subtle"
              size="compact-xs"
              color="gray"
              style={{ alignSelf: "flex-start" }}
              leftSection={open ? <IconChevronDown size={14} /> : <IconChevronRight size={14} />}
              aria-expanded={open}
              onClick={() => setOpen((shown) => !shown)}
            >
              {open ? "Hide the stack" : "Show the stack"}
            </Button>
            <Collapse expanded={open}>
              <Code block className="event-output" aria-label="Stack">
                {stack}
              </Code>
            </Collapse>
          </>
        )}
      </Stack>
    </Paper>
  );
}

/** The errors the app threw in the browser, under its preview, each with "Fix it": a follow-up
 * (as the prompt box sends one) asking for the fix, with the error's message, stack and page. */
export function RuntimeErrors({
  projectId,
  errors,
  cannotFix,
  onSent,
}: {
  projectId: string;
  errors: ShownRuntimeError[];
  /** Why "Fix it" is off now (a run is going, an earlier version is shown), or undefined. */
  cannotFix: string | undefined;
  onSent: () => void;
}) {
  const send = useSendMessage(projectId);
  const [fixing, setFixing] = useState<string | null>(null);
  if (!errors.length) return null;
  const fix = (error: ShownRuntimeError) => {
    setFixing(error.key);
    send.mutate({ value: fixItPrompt(error), mode: "build" }, { onSuccess: onSent });
  };
  return (
    <Stack gap={4} component="section" aria-label="Errors in the app">
      <Group gap={6}>
        <IconBug size={16} color="var(--mantine-color-red-7)" aria-hidden />
        <Text size="sm" fw={600}>
          The app threw {plural(errors.length, "error")} in the browser
        </Text>
      </Group>
      {cannotFix && (
        <Text size="xs" c="dimmed">
          {cannotFix}
        </Text>
      )}
      <ErrorAlert error={send.error} title="The fix was not asked for" />
      <ScrollArea.Autosize mah={220} type="auto">
        <Stack component="ul" gap={4} m={0} p={0} style={{ listStyle: "none" }}>
          {errors.map((error) => (
            <ThrownError
              key={error.key}
              error={error}
              fixable={!cannotFix && !send.isPending}
              sending={send.isPending && fixing === error.key}
              onFix={() => fix(error)}
            />
          ))}
        </Stack>
      </ScrollArea.Autosize>
    </Stack>
  );
}
