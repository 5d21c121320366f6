import { Anchor, Button, Code, Group, Loader, Modal, Paper, ScrollArea, Stack, Text } from "@mantine/core";
import { IconAlertTriangle, IconWorld } from "@tabler/icons-react";
import { useState } from "react";
import type { Site } from "../api/client";
import { useUnpublish } from "../api/queries";
import { liveVersion, siteSummary, type VersionLabel } from "../site";
import { ErrorAlert } from "./ErrorAlert";

/** The project's site: being published (a loader), live (its address, the version it serves and
 * Unpublish), or failed (the build's output, and whether an earlier version still serves). */
export function SiteStatus({
  projectId,
  site,
  labelOf,
}: {
  projectId: string;
  site: Site | null;
  labelOf: VersionLabel;
}) {
  const unpublish = useUnpublish(projectId);
  const [confirming, setConfirming] = useState(false);
  const summary = siteSummary(site, labelOf);
  const live = liveVersion(site);
  const failed = site?.status === "FAILED";
  const icon = failed ? (
    <IconAlertTriangle size={16} color="var(--mantine-color-red-7)" aria-hidden />
  ) : (
    <IconWorld size={16} aria-hidden />
  );
  return (
    <Paper withBorder p="xs" component="section" aria-label="Site">
      <Stack gap={6}>
        <Group justify="space-between" wrap="wrap" gap="xs">
          <Group gap="xs" wrap="nowrap" role="status">
            {summary.busy ? <Loader size="xs" aria-hidden /> : icon}
            <Text fw={600} size="sm" c={failed ? "red.7" : undefined}>
              {summary.heading}
            </Text>
          </Group>
          {live && (
            <Button size="compact-sm" variant="default" color="red" onClick={() => setConfirming(true)}>
              Unpublish
            </Button>
          )}
        </Group>
        {site && live && (
          <Text size="sm" style={{ wordBreak: "break-all" }}>
            <Anchor href={site.url} target="_blank" rel="noopener noreferrer">
              {site.url}
            </Anchor>{" "}
            <Text span size="sm" c="dimmed">
              serves {labelOf(live)}
              {site.publishedAt && site.status === "PUBLISHED"
                ? `, published ${new Date(site.publishedAt).toLocaleString()}`
                : ""}
            </Text>
          </Text>
        )}
        {summary.text && (
          <Text size="sm" c="dimmed">
            {summary.text}
          </Text>
        )}
        {failed && site.error && (
          <ScrollArea.Autosize mah={220} type="auto" aria-label="The build's output">
            <Code block style={{ whiteSpace: "pre-wrap", wordBreak: "break-word" }}>
              {site.error}
            </Code>
          </ScrollArea.Autosize>
        )}
        <ErrorAlert error={unpublish.error} title="The site was not taken down" />
      </Stack>
      <Modal opened={confirming} onClose={() => setConfirming(false)} title="Unpublish the site?" centered>
        <Stack>
          <Text>
            <b style={{ wordBreak: "break-all" }}>{site?.url}</b> will answer 404 until you publish a version again.
          </Text>
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setConfirming(false)}>
              Keep it
            </Button>
            <Button
              color="red"
              loading={unpublish.isPending}
              onClick={() => unpublish.mutate(undefined, { onSettled: () => setConfirming(false) })}
            >
              Unpublish
            </Button>
          </Group>
        </Stack>
      </Modal>
    </Paper>
  );
}
