import { Badge, Button, Code, Group, Paper, Stack, Text } from "@mantine/core";
import { IconDownload, IconEye, IconHistory, IconWorldUpload } from "@tabler/icons-react";
import { useState } from "react";
import type { FragmentSummary } from "../api/client";
import { downloadHistory, downloadVersion, usePublish, useProjects, useRestore, useSite } from "../api/queries";
import { bundleName } from "../gitPush";
import { canPublish, liveVersion } from "../site";
import { plural } from "../versionDiff";
import { ErrorAlert } from "./ErrorAlert";
import { GitPushButton } from "./GitPushDialog";
import { SiteStatus } from "./SiteStatus";
import { VersionChanges } from "./VersionChanges";

export function VersionsPanel({
  projectId,
  fragments,
  shown,
  onShow,
}: {
  projectId: string;
  fragments: FragmentSummary[];
  shown: string | undefined;
  onShow: (fragmentId: string) => void;
}) {
  const restore = useRestore(projectId);
  const projects = useProjects();
  const site = useSite(projectId);
  const publish = usePublish(projectId);
  const [downloadError, setDownloadError] = useState<unknown>(null);
  const name = projects.data?.items.find((p) => p.id === projectId)?.name ?? "app";
  const bundle = bundleName(name);
  const newest = fragments.at(-1)?.id;
  const live = liveVersion(site.data);
  const labelOf = (fragmentId: string | null) => {
    if (fragmentId === null) return "the app template";
    const index = fragments.findIndex((f) => f.id === fragmentId);
    return index < 0 ? "an earlier version" : `v${index + 1}`;
  };
  if (!fragments.length) return <Text c="dimmed">No versions yet.</Text>;
  return (
    <Stack gap="xs">
      {site.data !== undefined && <SiteStatus projectId={projectId} site={site.data} labelOf={labelOf} />}
      <ErrorAlert error={site.error} title="The site's state is not shown" />
      <ErrorAlert error={publish.error} title="That version was not published" />
      <Group gap="xs" wrap="wrap">
        <GitPushButton projectId={projectId} />
        <Button
          size="compact-sm"
          variant="default"
          leftSection={<IconDownload size={14} />}
          onClick={() => {
            setDownloadError(null);
            downloadHistory(projectId, bundle.file).catch(setDownloadError);
          }}
        >
          Download history (git bundle)
        </Button>
        <Text size="xs" c="dimmed">
          then <Code>{bundle.clone}</Code>
        </Text>
      </Group>
      <ErrorAlert error={restore.error ?? downloadError} />
      <ol style={{ listStyle: "none", margin: 0, padding: 0 }} aria-label="Versions">
        {[...fragments].reverse().map((fragment, index) => (
          <li key={fragment.id}>
            <Paper withBorder p="xs" mb="xs">
              <Group justify="space-between" wrap="wrap">
                <Stack gap={0}>
                  <Group gap="xs">
                    <Text fw={600}>
                      v{fragments.length - index} · {fragment.title}
                    </Text>
                    {fragment.id === newest && <Badge size="xs">current</Badge>}
                    {fragment.id === live && site.data && (
                      <Badge
                        size="xs"
                        color="green"
                        component="a"
                        href={site.data.url}
                        target="_blank"
                        rel="noopener noreferrer"
                        aria-label={`Live: v${fragments.length - index} is at ${site.data.url}`}
                        style={{ cursor: "pointer" }}
                      >
                        Live
                      </Badge>
                    )}
                    {fragment.checkError && (
                      <Badge size="xs" color="yellow">
                        failed check
                      </Badge>
                    )}
                  </Group>
                  <Text size="xs" c="dimmed">
                    {new Date(fragment.createdAt).toLocaleString()} · {plural(fragment.paths.length, "file")}
                  </Text>
                  <Group gap={0}>
                    <VersionChanges
                      projectId={projectId}
                      fragmentId={fragment.id}
                      label={`v${fragments.length - index}`}
                      labelOf={labelOf}
                    />
                  </Group>
                </Stack>
                <Group gap={4}>
                  <Button
                    size="compact-sm"
                    variant={fragment.id === shown ? "filled" : "default"}
                    leftSection={<IconEye size={14} />}
                    onClick={() => onShow(fragment.id)}
                  >
                    Preview
                  </Button>
                  {fragment.id !== newest && (
                    <Button
                      size="compact-sm"
                      variant="default"
                      leftSection={<IconHistory size={14} />}
                      loading={restore.isPending && restore.variables === fragment.id}
                      onClick={() => restore.mutate(fragment.id)}
                      aria-label={`Restore v${fragments.length - index}`}
                    >
                      Restore
                    </Button>
                  )}
                  <Button
                    size="compact-sm"
                    variant="default"
                    leftSection={<IconWorldUpload size={14} />}
                    disabled={!canPublish(site.data)}
                    loading={
                      (publish.isPending && publish.variables === fragment.id) ||
                      (site.data?.status === "PUBLISHING" && site.data.fragmentId === fragment.id)
                    }
                    onClick={() => publish.mutate(fragment.id)}
                    aria-label={`Publish v${fragments.length - index}`}
                  >
                    Publish
                  </Button>
                  <Button
                    size="compact-sm"
                    variant="default"
                    leftSection={<IconDownload size={14} />}
                    onClick={() => {
                      setDownloadError(null);
                      downloadVersion(projectId, fragment.id, name).catch(setDownloadError);
                    }}
                    aria-label={`Download v${fragments.length - index}`}
                  >
                    Download
                  </Button>
                </Group>
              </Group>
            </Paper>
          </li>
        ))}
      </ol>
    </Stack>
  );
}
