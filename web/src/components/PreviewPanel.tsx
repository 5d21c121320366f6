import { ActionIcon, Alert, Button, Center, Group, Loader, Stack, Text, Tooltip } from "@mantine/core";
import { IconClick, IconExternalLink, IconRefresh } from "@tabler/icons-react";
import { useCallback, useEffect, useRef, useState } from "react";
import type { FragmentSummary } from "../api/client";
import { useBringPreviewBack, usePreview } from "../api/queries";
import { acceptRuntimeError, originOf, type RuntimeError, type ShownRuntimeError } from "../runtimeErrors";
import { acceptSelectEvent, type ElementSelection, SELECT_TYPE } from "../selection";
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
  /** The person pointed at an element of the newest version's app with "Select". */
  onSelect: (selection: ElementSelection) => void;
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
  onSelect,
}: { projectId: string; fragment: FragmentSummary; older: boolean } & PreviewErrorProps) {
  const preview = usePreview(projectId, fragment.id);
  const bringBack = useBringPreviewBack(projectId, fragment.id);
  const [reloads, setReloads] = useState(0);
  const [selecting, setSelecting] = useState(false);
  const frame = useRef<HTMLIFrameElement>(null);
  const state = preview.data;
  const url = state?.sandboxUrl ?? fragment.sandboxUrl;
  const origin = originOf(url);
  const select = useCallback(
    (on: boolean) => {
      // The app listens only to the page that frames it; the message goes only to the preview's origin.
      if (origin) frame.current?.contentWindow?.postMessage({ type: SELECT_TYPE, on }, origin);
      setSelecting(on);
    },
    [origin],
  );
  useEffect(() => {
    // Only the app in this frame, at the preview's origin, may report an error (runtimeErrors.ts).
    const onMessage = (event: MessageEvent) => {
      const error = acceptRuntimeError(event, frame.current?.contentWindow, origin);
      if (error) onRuntimeError(fragment.id, error);
      const said = older ? null : acceptSelectEvent(event, frame.current?.contentWindow, origin);
      if (said?.kind === "ready") select(selecting); // a new page load: as the toolbar says
      // Only while the person is selecting: the app's own code cannot choose for them.
      else if (said && selecting) {
        setSelecting(false);
        if (said.kind === "selected") onSelect(said.selection);
      }
    };
    window.addEventListener("message", onMessage);
    return () => window.removeEventListener("message", onMessage);
  }, [origin, fragment.id, older, selecting, select, onRuntimeError, onSelect]);
  useEffect(() => {
    if (!selecting) return;
    // Escape ends "Select" wherever the keyboard is: here (after the click on Select), or in the app.
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") select(false);
    };
    // Captured: the tooltip's own Escape handling stops the event on its way up.
    window.addEventListener("keydown", onKey, true);
    return () => window.removeEventListener("keydown", onKey, true);
  }, [selecting, select]);
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
          <Tooltip
            label={
              older
                ? "Select works on the newest version"
                : selecting
                  ? "Click an element of the app (Esc to stop)"
                  : "Select an element to change"
            }
          >
            <ActionIcon
              variant={selecting ? "filled" : "subtle"}
              aria-label="Select an element"
              aria-pressed={selecting}
              disabled={older || state?.status !== "READY"}
              onClick={() => select(!selecting)}
            >
              <IconClick size={18} />
            </ActionIcon>
          </Tooltip>
          <Tooltip label="Reload">
            <ActionIcon
              variant="subtle"
              aria-label="Reload the preview"
              onClick={() => {
                setSelecting(false); // the reloaded app starts without it
                setReloads((n) => n + 1);
              }}
            >
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
