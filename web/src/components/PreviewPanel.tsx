import { ActionIcon, Alert, Button, Center, Group, Loader, Stack, Text, Tooltip } from "@mantine/core";
import { IconExternalLink, IconRefresh } from "@tabler/icons-react";
import { useState } from "react";
import type { FragmentSummary } from "../api/client";
import { useBringPreviewBack, usePreview } from "../api/queries";
import { ErrorAlert } from "./ErrorAlert";

export function PreviewPanel({
  projectId,
  fragment,
  newest,
}: {
  projectId: string;
  fragment: FragmentSummary | undefined;
  newest: FragmentSummary | undefined;
}) {
  if (!fragment) {
    return (
      <Center h={300}>
        <Text c="dimmed">The preview shows here once the first version is built.</Text>
      </Center>
    );
  }
  return <Preview key={fragment.id} projectId={projectId} fragment={fragment} older={fragment.id !== newest?.id} />;
}

function Preview({ projectId, fragment, older }: { projectId: string; fragment: FragmentSummary; older: boolean }) {
  const preview = usePreview(projectId, fragment.id);
  const bringBack = useBringPreviewBack(projectId, fragment.id);
  const [reloads, setReloads] = useState(0);
  const state = preview.data;
  const url = state?.sandboxUrl ?? fragment.sandboxUrl;
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
          className="preview-frame"
          src={url}
          title={`Preview of ${fragment.title}`}
          sandbox="allow-scripts allow-same-origin allow-forms allow-popups allow-modals"
        />
      )}
    </Stack>
  );
}
