import { ActionIcon, Alert, Button, Center, Group, Loader, Stack, Text, Tooltip } from "@mantine/core";
import { IconExternalLink, IconRefresh } from "@tabler/icons-react";
import { useEffect, useRef, useState } from "react";
import type { FragmentSummary } from "../api/client";
import { useBringPreviewBack, usePreview } from "../api/queries";
import { acceptRuntimeError, originOf, type RuntimeError, type ShownRuntimeError } from "../runtimeErrors";
import { ErrorAlert } from "./ErrorAlert";
import { RuntimeErrors } from "./RuntimeErrors";

/** What the preview shows under the app: the errors it threw, and what happens to them. */
export interface PreviewErrorProps {
  errors: ShownRuntimeError[];
  /** The app framed in the preview of this version reported an error. */
  onRuntimeError: (fragmentId: string, error: RuntimeError) => void;
  /** A run is queued or going: "Fix it" waits for it. */
  running: boolean;
  /** "Fix it" sent its follow-up. */
  onFixSent: () => void;
}

export function PreviewPanel({
  projectId,
  fragment,
  newest,
  ...errors
}: {
  projectId: string;
  fragment: FragmentSummary | undefined;
  newest: FragmentSummary | undefined;
} & PreviewErrorProps) {
  if (!fragment) {
    return (
      <Center h={300}>
        <Text c="dimmed">The preview shows here once the first version is built.</Text>
      </Center>
    );
  }
  return (
    <Preview key={fragment.id} projectId={projectId} fragment={fragment} older={fragment.id !== newest?.id} {...errors} />
  );
}

function Preview({
  projectId,
  fragment,
  older,
  errors,
  onRuntimeError,
  running,
  onFixSent,
}: { projectId: string; fragment: FragmentSummary; older: boolean } & PreviewErrorProps) {
  const preview = usePreview(projectId, fragment.id);
  const bringBack = useBringPreviewBack(projectId, fragment.id);
  const [reloads, setReloads] = useState(0);
  const frame = useRef<HTMLIFrameElement>(null);
  const state = preview.data;
  const url = state?.sandboxUrl ?? fragment.sandboxUrl;
  const origin = originOf(url);
  useEffect(() => {
    // Only the app in this frame, at the preview's origin, may report an error (runtimeErrors.ts).
    const onMessage = (event: MessageEvent) => {
      const error = acceptRuntimeError(event, frame.current?.contentWindow, origin);
      if (error) onRuntimeError(fragment.id, error);
    };
    window.addEventListener("message", onMessage);
    return () => window.removeEventListener("message", onMessage);
  }, [origin, fragment.id, onRuntimeError]);
  const cannotFix = older
    ? "This is an earlier version: Fix it changes the newest one."
    : running
      ? "Fix it waits for the run to finish."
      : undefined;
  return (
    <Stack gap="xs" style={{ flex: 1 }}>
      <Group justify="space-between" wrap="nowrap">
        <Text size="sm" c="dimmed" truncate>
          {fragment.title}
          {older ? " (an earlier version)" : ""}
        </Text>
        <Group gap={4} wrap="nowrap">
          <Tooltip label="Reload">
            <ActionIcon variant="subtle" aria-label="Reload the preview" onClick={() => setReloads((n) => n + 1)}>
              <IconRefresh size={18} />
            </ActionIcon>
          </Tooltip>
          <Tooltip label="Open in a new tab">
            <ActionIcon
              variant="subtle"
              component="a"
              href={url}
              target="_blank"
              rel="noreferrer"
              aria-label="Open the preview in a new tab"
            >
              <IconExternalLink size={18} />
            </ActionIcon>
          </Tooltip>
        </Group>
      </Group>
      <ErrorAlert error={preview.error ?? bringBack.error} />
      {state?.status === "FAILED" && (
        <Alert color="yellow" title="This preview is not running">
          <Stack gap="xs" align="flex-start">
            <Text size="sm">{state.error}</Text>
            <Button onClick={() => bringBack.mutate()} loading={bringBack.isPending}>
              Bring it back
            </Button>
          </Stack>
        </Alert>
      )}
      {state?.status === "STARTING" && (
        <Group gap="xs">
          <Loader size="xs" />
          <Text size="sm">Starting the preview…</Text>
        </Group>
      )}
      {state?.status === "READY" && (
        <iframe
          key={reloads}
          ref={frame}
          className="preview-frame"
          src={url}
          title={`Preview of ${fragment.title}`}
          sandbox="allow-scripts allow-same-origin allow-forms allow-popups allow-modals"
        />
      )}
      <RuntimeErrors projectId={projectId} errors={errors} cannotFix={cannotFix} onSent={onFixSent} />
    </Stack>
  );
}
