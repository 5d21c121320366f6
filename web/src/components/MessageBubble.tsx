import { Alert, Anchor, Badge, Button, Code, Group, Paper, Stack, Text } from "@mantine/core";
import { IconAlertTriangle, IconClick } from "@tabler/icons-react";
import { useState } from "react";
import type { Message, RunStatus } from "../api/client";
import { selectionLabel } from "../selection";
import { MessageImages } from "./PromptImages";
import { RunProgress } from "./RunProgress";

// Every status of the OpenAPI document has its colour: a new one fails the type check until it has one.
const RUN_BADGE = {
  QUEUED: "gray",
  RUNNING: "blue",
  SUCCEEDED: "green",
  FAILED: "red",
  CANCELLED: "orange",
} satisfies Record<RunStatus, string>;

export function MessageBubble({
  projectId,
  message,
  live,
  onShowVersion,
}: {
  projectId: string;
  message: Message;
  live: boolean;
  onShowVersion: (fragmentId: string) => void;
}) {
  const [steps, setSteps] = useState(false);
  const mine = message.role === "USER";
  const failed = message.type === "ERROR";
  const fragment = message.fragment;
  return (
    <Stack gap={4} align={mine ? "flex-end" : "flex-start"} data-testid={`message-${message.role.toLowerCase()}`}>
      <Paper
        p="sm"
        maw="92%"
        bg={mine ? "violet.0" : failed ? "red.0" : "gray.0"}
        withBorder={failed}
        style={failed ? { borderColor: "var(--mantine-color-red-4)" } : undefined}
      >
        <Text size="sm" style={{ whiteSpace: "pre-wrap" }}>
          {message.content}
        </Text>
        {mine && message.selection && (
          <Group gap={4} mt={4} wrap="nowrap" aria-label="Pointed at">
            <IconClick size={14} aria-hidden />
            <Text size="xs" c="dimmed">
              {selectionLabel(message.selection)}
            </Text>
          </Group>
        )}
        {mine && <MessageImages projectId={projectId} message={message} />}
        {fragment && (
          <Group gap="xs" mt="xs">
            <Badge variant="outline">{fragment.title}</Badge>
            <Anchor component="button" size="sm" onClick={() => onShowVersion(fragment.id)}>
              Show this version
            </Anchor>
          </Group>
        )}
        {fragment?.checkError && (
          <Alert color="yellow" mt="xs" title="The app failed its build check" icon={<IconAlertTriangle />}>
            <Code block>{fragment.checkError.split("\n").slice(0, 8).join("\n")}</Code>
          </Alert>
        )}
      </Paper>
      {mine && message.run && (
        <Group gap="xs">
          {message.mode === "ask" && (
            <Badge size="xs" variant="outline" color="gray">
              question
            </Badge>
          )}
          <Badge size="xs" color={RUN_BADGE[message.run.status]}>
            {message.run.status.toLowerCase()}
          </Badge>
          {!live && (
            <Button variant="subtle" size="compact-xs" onClick={() => setSteps((shown) => !shown)} aria-expanded={steps}>
              {steps ? "Hide steps" : "Show steps"}
            </Button>
          )}
        </Group>
      )}
      {mine && message.run && (live || steps) && <RunProgress projectId={projectId} messageId={message.id} live={live} />}
    </Stack>
  );
}
