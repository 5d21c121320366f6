import { Badge, Button, Group, Loader, Modal, Stack, Text, Title, VisuallyHidden } from "@mantine/core";
import { useMediaQuery } from "@mantine/hooks";
import { useState } from "react";
import type { FileDiff, FileStatus } from "../api/client";
import { useVersionDiff } from "../api/queries";
import { describeError } from "../errorDisplay";
import { changeSummary, fileBody, STATUS_LABEL } from "../versionDiff";
import { PatchView } from "./PatchView";

const STATUS_COLOR = {
  added: "green",
  modified: "blue",
  deleted: "red",
} satisfies Record<FileStatus, string>;

function Counts({ added, deleted }: { added: string; deleted: string }) {
  return (
    <Group gap={6} wrap="nowrap" aria-hidden>
      <Text span size="xs" fw={600} c="green.8">
        {added}
      </Text>
      <Text span size="xs" fw={600} c="red.8">
        {deleted}
      </Text>
    </Group>
  );
}

function FileChanges({ file }: { file: FileDiff }) {
  const body = fileBody(file);
  const summary = changeSummary({ files: [file], additions: file.additions, deletions: file.deletions });
  return (
    <Stack gap={4} component="section" aria-label={file.path}>
      <Group justify="space-between" gap="xs" wrap="nowrap" align="flex-start">
        <Title order={3} size="sm" ff="monospace" style={{ wordBreak: "break-all" }}>
          {file.path}
        </Title>
        <Group gap="xs" wrap="nowrap">
          <Badge size="xs" variant="light" color={STATUS_COLOR[file.status] ?? "gray"}>
            {STATUS_LABEL[file.status] ?? file.status}
          </Badge>
          <Counts added={summary.added} deleted={summary.deleted} />
          <VisuallyHidden>{summary.lines}</VisuallyHidden>
        </Group>
      </Group>
      {body.kind === "patch" ? (
        <PatchView path={file.path} lines={body.lines} />
      ) : (
        <Text size="sm" c="dimmed" fs="italic">
          {body.text}
        </Text>
      )}
    </Stack>
  );
}

/** A version's "N files changed +a −d"; clicked, what it changed, file by file, from the version
 * before it (`labelOf` names a version: "v2", or the template for none). */
export function VersionChanges({
  projectId,
  fragmentId,
  label,
  labelOf,
}: {
  projectId: string;
  fragmentId: string;
  label: string;
  labelOf: (fragmentId: string | null) => string;
}) {
  const diff = useVersionDiff(projectId, fragmentId);
  const phone = useMediaQuery("(max-width: 48em)");
  const [open, setOpen] = useState(false);
  if (diff.isPending) return <Loader size="xs" type="dots" aria-label={`Counting what ${label} changed`} />;
  if (diff.error)
    return (
      <Text size="xs" c="red">
        Changes not shown: {describeError(diff.error).text}
      </Text>
    );
  const summary = changeSummary(diff.data);
  if (!diff.data.files.length)
    return (
      <Text size="xs" c="dimmed">
        {summary.files}
      </Text>
    );
  return (
    <>
      <Button
        variant="subtle"
        size="compact-xs"
        px={4}
        ml={-4}
        onClick={() => setOpen(true)}
        aria-label={`${summary.spoken}: what ${label} changed`}
        aria-haspopup="dialog"
      >
        <Group gap={6} wrap="nowrap">
          <span>{summary.files}</span>
          <Counts added={summary.added} deleted={summary.deleted} />
        </Group>
      </Button>
      <Modal
        opened={open}
        onClose={() => setOpen(false)}
        title={`What ${label} changed`}
        size="xl"
        fullScreen={Boolean(phone)}
        closeButtonProps={{ "aria-label": "Close" }}
      >
        <Stack gap="md">
          <Text size="sm" c="dimmed">
            Since {labelOf(diff.data.baseId)}: {summary.spoken}.
          </Text>
          {diff.data.files.map((file) => (
            <FileChanges key={file.path} file={file} />
          ))}
        </Stack>
      </Modal>
    </>
  );
}
